-- Second factor (TOTP and recovery codes) and passkeys (WebAuthn).

ALTER TYPE "AuthMethod" ADD VALUE 'PASSKEY';
ALTER TYPE "RevocationReason" ADD VALUE 'SECOND_FACTOR_FAILED';
ALTER TYPE "RevocationReason" ADD VALUE 'SECOND_FACTOR_CHANGED';

CREATE TYPE "SecondFactor" AS ENUM ('TOTP', 'RECOVERY_CODE', 'PASSKEY');
CREATE TYPE "PasskeyChallengePurpose" AS ENUM ('REGISTRATION', 'SIGN_IN');

ALTER TABLE "User"
    ADD COLUMN "totpSecret" TEXT,
    ADD COLUMN "totpEnabledAt" TIMESTAMP(3),
    ADD COLUMN "totpLastStep" BIGINT,
    ADD COLUMN "totpPendingSecret" TEXT,
    ADD COLUMN "totpPendingAt" TIMESTAMP(3);

ALTER TABLE "Session"
    ADD COLUMN "secondFactor" "SecondFactor",
    ADD COLUMN "secondFactorPending" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN "secondFactorFailures" INTEGER NOT NULL DEFAULT 0;

CREATE TABLE "RecoveryCode" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "codeHash" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),

    CONSTRAINT "RecoveryCode_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "RecoveryCode_userId_codeHash_key" ON "RecoveryCode"("userId", "codeHash");
ALTER TABLE "RecoveryCode" ADD CONSTRAINT "RecoveryCode_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "Passkey" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "credentialId" TEXT NOT NULL,
    "publicKey" BYTEA NOT NULL,
    "counter" BIGINT NOT NULL,
    "transports" TEXT NOT NULL,
    "deviceType" TEXT NOT NULL,
    "backedUp" BOOLEAN NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "lastUsedAt" TIMESTAMP(3),

    CONSTRAINT "Passkey_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "Passkey_credentialId_key" ON "Passkey"("credentialId");
CREATE INDEX "Passkey_userId_idx" ON "Passkey"("userId");
ALTER TABLE "Passkey" ADD CONSTRAINT "Passkey_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "PasskeyChallenge" (
    "id" UUID NOT NULL,
    "purpose" "PasskeyChallengePurpose" NOT NULL,
    "challenge" TEXT NOT NULL,
    "userId" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "PasskeyChallenge_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "PasskeyChallenge_expiresAt_idx" ON "PasskeyChallenge"("expiresAt");
