-- Signing keys of the access tokens (JWT, ES256); the private half is sealed with ENCRYPTION_KEY.

-- CreateTable
CREATE TABLE "SigningKey" (
    "kid" TEXT NOT NULL,
    "publicJwk" TEXT NOT NULL,
    "sealedPrivateJwk" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "signsFrom" TIMESTAMP(3) NOT NULL,
    "retiresAt" TIMESTAMP(3),

    CONSTRAINT "SigningKey_pkey" PRIMARY KEY ("kid")
);

-- CreateIndex
CREATE UNIQUE INDEX "SigningKey_signsFrom_key" ON "SigningKey"("signsFrom");
