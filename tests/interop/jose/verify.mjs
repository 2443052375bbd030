// A resource server's verification, done by npm `jose` alone: the keys come
// from authsvc's JWKS (createRemoteJWKSet), the token is checked by
// jwtVerify with authsvc's issuer and audience, and ES256/EdDSA/RS256 only.
//
//   node verify.mjs <jwks-url> <issuer> <audience>   (tokens on stdin, one a line)
//
// Prints one JSON line per token: {"ok": true, "kid", "payload"} or
// {"ok": false, "code"} (jose's error code, e.g. ERR_JWS_SIGNATURE_VERIFICATION_FAILED).
import { createRemoteJWKSet, jwtVerify } from "jose";
import { readFileSync } from "node:fs";

const [jwksUrl, issuer, audience] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));
const tokens = readFileSync(0, "utf8").split("\n").filter(Boolean);

for (const token of tokens) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer, audience, algorithms: ["ES256", "EdDSA", "RS256"],
    });
    console.log(JSON.stringify({ ok: true, kid: protectedHeader.kid, payload }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, code: error.code ?? String(error) }));
  }
}
