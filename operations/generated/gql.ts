/* eslint-disable */
import * as types from './graphql.ts';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    token\n    user {\n      ...UserFields\n    }\n    session {\n      id\n      expiresAt\n    }\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    token\n    user {\n      ...UserFields\n    }\n    session {\n      id\n      expiresAt\n    }\n  }\n}\n\nmutation Logout {\n  logout\n}\n\nquery Me {\n  me {\n    ...UserFields\n  }\n}\n\nfragment UserFields on User {\n  id\n  email\n  emailVerified\n  name\n  role\n  hasPassword\n  createdAt\n}": typeof types.RegisterDocument,
    "mutation UpdateProfile($input: UpdateProfileInput!) {\n  updateProfile(input: $input) {\n    id\n    name\n  }\n}\n\nmutation ChangePassword($input: ChangePasswordInput!) {\n  changePassword(input: $input)\n}": typeof types.UpdateProfileDocument,
    "query MySessions {\n  mySessions {\n    id\n    current\n    method\n    ipAddress\n    userAgent\n    createdAt\n    lastSeenAt\n    expiresAt\n  }\n}\n\nmutation RevokeSession($id: ID!) {\n  revokeSession(id: $id)\n}\n\nmutation RevokeOtherSessions {\n  revokeOtherSessions\n}": typeof types.MySessionsDocument,
};
const documents: Documents = {
    "mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    token\n    user {\n      ...UserFields\n    }\n    session {\n      id\n      expiresAt\n    }\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    token\n    user {\n      ...UserFields\n    }\n    session {\n      id\n      expiresAt\n    }\n  }\n}\n\nmutation Logout {\n  logout\n}\n\nquery Me {\n  me {\n    ...UserFields\n  }\n}\n\nfragment UserFields on User {\n  id\n  email\n  emailVerified\n  name\n  role\n  hasPassword\n  createdAt\n}": types.RegisterDocument,
    "mutation UpdateProfile($input: UpdateProfileInput!) {\n  updateProfile(input: $input) {\n    id\n    name\n  }\n}\n\nmutation ChangePassword($input: ChangePasswordInput!) {\n  changePassword(input: $input)\n}": types.UpdateProfileDocument,
    "query MySessions {\n  mySessions {\n    id\n    current\n    method\n    ipAddress\n    userAgent\n    createdAt\n    lastSeenAt\n    expiresAt\n  }\n}\n\nmutation RevokeSession($id: ID!) {\n  revokeSession(id: $id)\n}\n\nmutation RevokeOtherSessions {\n  revokeOtherSessions\n}": types.MySessionsDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    token\n    user {\n      ...UserFields\n    }\n    session {\n      id\n      expiresAt\n    }\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    token\n    user {\n      ...UserFields\n    }\n    session {\n      id\n      expiresAt\n    }\n  }\n}\n\nmutation Logout {\n  logout\n}\n\nquery Me {\n  me {\n    ...UserFields\n  }\n}\n\nfragment UserFields on User {\n  id\n  email\n  emailVerified\n  name\n  role\n  hasPassword\n  createdAt\n}"): (typeof documents)["mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    token\n    user {\n      ...UserFields\n    }\n    session {\n      id\n      expiresAt\n    }\n  }\n}\n\nmutation Login($input: LoginInput!) {\n  login(input: $input) {\n    token\n    user {\n      ...UserFields\n    }\n    session {\n      id\n      expiresAt\n    }\n  }\n}\n\nmutation Logout {\n  logout\n}\n\nquery Me {\n  me {\n    ...UserFields\n  }\n}\n\nfragment UserFields on User {\n  id\n  email\n  emailVerified\n  name\n  role\n  hasPassword\n  createdAt\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation UpdateProfile($input: UpdateProfileInput!) {\n  updateProfile(input: $input) {\n    id\n    name\n  }\n}\n\nmutation ChangePassword($input: ChangePasswordInput!) {\n  changePassword(input: $input)\n}"): (typeof documents)["mutation UpdateProfile($input: UpdateProfileInput!) {\n  updateProfile(input: $input) {\n    id\n    name\n  }\n}\n\nmutation ChangePassword($input: ChangePasswordInput!) {\n  changePassword(input: $input)\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query MySessions {\n  mySessions {\n    id\n    current\n    method\n    ipAddress\n    userAgent\n    createdAt\n    lastSeenAt\n    expiresAt\n  }\n}\n\nmutation RevokeSession($id: ID!) {\n  revokeSession(id: $id)\n}\n\nmutation RevokeOtherSessions {\n  revokeOtherSessions\n}"): (typeof documents)["query MySessions {\n  mySessions {\n    id\n    current\n    method\n    ipAddress\n    userAgent\n    createdAt\n    lastSeenAt\n    expiresAt\n  }\n}\n\nmutation RevokeSession($id: ID!) {\n  revokeSession(id: $id)\n}\n\nmutation RevokeOtherSessions {\n  revokeOtherSessions\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;