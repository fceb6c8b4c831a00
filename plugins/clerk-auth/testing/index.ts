// fastify-clerk-auth/testing: a stand-in for a Clerk instance for your tests, and the pieces it is
// made of.
export { createTestIssuer, mintM2mToken, mintOAuthToken, mintSessionToken, type BackendApiCall, type BackendApiFault, type JwksFault, type M2mTokenInput, type OAuthTokenInput, type OpaqueTokenInput, type SessionTokenInput, type TestIssuer, type TestIssuerOptions } from './test-issuer.js'
export { generateSigningKey, signingKeyFrom, type PublicJwk, type SigningKey } from './signing-key.js'
export { rsaThumbprint, signJwt, type JwtHeader, type JwtPayload } from './sign-jwt.js'
export { organizationClaims, sessionClaims, type OrganizationInput, type SessionClaimsInput } from './session-claims.js'
export { m2mClaims, m2mHeader, oauthClaims, oauthHeader, type M2mClaimsInput, type OAuthClaimsInput } from './machine-claims.js'
export { answerBackendApi, devMachineSecretKey, devSecretKey, mintDevOpaqueToken, readDevOpaqueToken, verificationBody, type BackendApiRequest, type OpaqueTokenRecord, type OpaqueTokenType } from './backend-api.js'
export { devWebhookSigningSecret, generateWebhookSigningSecret, signWebhook, webhookEvent, type SignWebhookOptions, type WebhookDelivery, type WebhookEventInput } from './webhooks.js'
