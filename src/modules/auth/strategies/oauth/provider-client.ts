// The contract every provider flavour implements, so the service neither knows nor cares whether
// it talks OpenID Connect (Google, any issuer) or GitHub's plain OAuth 2.

/** The per-attempt secrets: state and nonce go to the provider, the PKCE verifier only to the token endpoint. */
export interface AttemptSecrets {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** Who the provider says the user is. */
export interface ExternalIdentity {
  /** Stable id at the provider (`sub`, GitHub's numeric id). */
  subject: string;
  email: string | null;
  /** Only true when the provider explicitly says so. */
  emailVerified: boolean;
  name: string | null;
}

export interface ProviderClient {
  id: string;
  name: string;
  /** The URL to send the browser to. May discover the provider's metadata first. */
  authorizationUrl(secrets: AttemptSecrets, redirectUri: string): Promise<string>;
  /**
   * Checks the authorization response in `callbackUrl` (our redirect URI with the query the
   * provider sent), exchanges the code and reads the identity. Throws OAuthFailure.
   */
  exchange(callbackUrl: URL, secrets: AttemptSecrets): Promise<ExternalIdentity>;
}
