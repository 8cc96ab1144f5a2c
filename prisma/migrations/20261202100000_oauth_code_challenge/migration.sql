-- OAuth sign-ins are bound to the browser that started them: startOAuth takes the frontend's
-- codeChallenge, the attempt keeps it, the oauth_code issued at the callback carries it, and
-- completeOAuth must present the matching codeVerifier.

-- Attempts started before this change carry no challenge and could never complete; they live
-- 10 minutes at most, so they are dropped rather than given a value that means "unchecked".
DELETE FROM "OAuthAttempt";

-- AlterTable
ALTER TABLE "OAuthAttempt" ADD COLUMN "bindingHash" TEXT NOT NULL;

-- AlterTable (only OAUTH_CODE rows set it; a code issued before this change has none and is refused)
ALTER TABLE "OneTimeToken" ADD COLUMN "bindingHash" TEXT;
