/**
 * @module Answering the server's authentication challenge: an Ed25519 signature by this device's
 * identity key over authChallengeSignedBytes(challenge) (src/protocol/key-signatures.ts), which
 * POST /v1/auth/token exchanges for a bearer token.
 */
import { authChallengeSignedBytes } from "../../protocol/key-signatures";
import type { IdentityRecord } from "../state/prekey-records";
import { ed25519Sign } from "./primitives";

export function signAuthChallenge(identity: IdentityRecord, challenge: Uint8Array): Promise<Uint8Array> {
  return ed25519Sign(identity.identity, authChallengeSignedBytes(challenge));
}
