-- Failed passwords throttle per address instead of locking the account; email codes get a
-- per-address failure budget across codes.

-- CreateTable
CREATE TABLE "Throttle" (
    "scope" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "failures" INTEGER NOT NULL,
    "windowStartedAt" TIMESTAMP(3) NOT NULL,
    "blockedUntil" TIMESTAMP(3),

    CONSTRAINT "Throttle_pkey" PRIMARY KEY ("scope","subject")
);

-- CreateIndex
CREATE INDEX "Throttle_windowStartedAt_idx" ON "Throttle"("windowStartedAt");

-- Automatic lockouts end: only an administrator locks an account now.
UPDATE "User" SET "lockedUntil" = NULL, "lockReason" = NULL WHERE "lockReason" = 'Too many failed sign-in attempts';

-- AlterTable
ALTER TABLE "User" DROP COLUMN "failedLoginCount";
