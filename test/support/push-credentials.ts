/**
 * Push provider credentials for the workers tests ONLY, generated once with node:crypto for this
 * repository (a P-256 key as an APNs .p8, an RSA-2048 service-account key, a VAPID key pair).
 * They authenticate nowhere: every endpoint below is a fake the tests serve themselves.
 * vitest.config.ts hands them to the Worker as secrets; the fakes verify against their public halves.
 */
export const TEST_APNS_KEY_P8 = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFBVXFiETUIO+ROk9\nOnHnJjArkUUchdrlClH+A4yK8i6hRANCAAQV+Mmf3esl4gWeY5D9rUpchEyQdou4\nbWqr8LZi0FOIfpUXO4AXUK7ekh7DBaKpIJqc04NSSVcbxx17EF0B+2N/\n-----END PRIVATE KEY-----\n";
export const TEST_APNS_KEY_ID = "TESTKEY001";
export const TEST_APNS_TEAM_ID = "TESTTEAM01";
export const TEST_APNS_TOPIC = "chat.parley.test";
export const TEST_APNS_ENDPOINT = "https://apns.fake.test";
export const TEST_APNS_SANDBOX_ENDPOINT = "https://apns-sandbox.fake.test";

export const TEST_FCM_SERVICE_ACCOUNT = {
  "type": "service_account",
  "project_id": "parley-test",
  "private_key_id": "test-key-1",
  "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCV4Ga2lq0ehXLO\nxA35E3V11l1sgCjuUfZjjmrd9UIQDiScCmPsIV6NHORx1NDWpPQxncrd44TzsZUf\nVbsuWhQ0xyzFBfJRyP3+0wfe0muYKnOuvP05O5kzz6S9Z5Cyrv/sZVEqWBCpKuW6\nJ2JMNXGWt5kqu/wvKaVeVnNJoK9H2j6BZm48y+lq0Xix88vg2DojcsWeJD4ry/+q\nJTA8D7xjIyb0Oat0JBCuzMky2zaFSih603UJ6z8WPknPqSUKQBYjj8NkjWgsD2Yv\nPb2vH5qtjcH+/6aeC2/mgqhBxc/qtrlubJOlhBCeI8zzXbwbcU2h/MqhxAAeYbMF\nnNp6PcTPAgMBAAECggEAAcBGvIpjiNBBVTyBxBYf0LOJxH51ol2VyRFjmtoTOAUA\nrrJv+wgwYFCxzWMRpfhbNaGYB0ik7h32IpDjW3kujdrn4U0E/EMJAkTf7V2jAS4G\nmC7AFj7MHVVabnx6+p0RA2eM1h3qSYR+458zLRwqV0fBqkSnZe7duw28HuRmnkQt\nBqpyWKW1bICb6eJbc5HDH0weakRLPkVv9NNd+kfmAHyWNR/puJuE2xr4cZEjUyur\nC4QfxeJkzF9DXNJlMSTr29n8synZ0XZ/U1YZvFbPTaAmumyT4yT7Se2sPezKLH/h\nSC1hSbrJcEG5xviLPpuJIs1ays/MhuaDY8Fn8nfYuQKBgQDKCatCi56pKKlEOmUc\nKn84XdkDQZ5657whthR6J0lMXqS20UNtF/vfshA9F1P0qIdmUc0AE+amI7z5No7x\nIElU5hb7DXGBdcVsBJKKwpE61IVfKy1fZqpDpZyVw4ifXvWl51Xk4KOJlmhI4zSI\nCoRoPVzMXxcHCXmmRKUaYTzQiQKBgQC96DXeD8ZrWbd2RC4NQA44FNL+Pt0wGnot\nGk4pLTCHF3RX054QcvH5esWXZUFZw7Ahe/vlQtvyuj/fu1Ghft9AB2UBmEmLRFew\nVZauHPPdPq+JDNLPLswuqEmuMYg29/5mQaBoHvSIBMTVG2M0jOc7ND/5Y/HmW/Bp\nV2t2c8+klwKBgEteUAUDEK0J/hr1rcJUGCFu4QXV9Mjkqcnpornu7ekPZWLNrdmE\nmPFZ+7TOfwNF2zzQRylAQ0q3CkftkmVhJfoF24zL9wvUY1FoY0JgUs0feqGF+ecc\n5WdW4JL93nmVcw3wvpojMt6gvUZze6VERyCbw4J59p0pa7ga43xzybwBAoGAbSdc\nVu/QR4HAzqxvn9QSmC93+wTdE7oUQXpeNJKx0uQrThPnRWMcLB5iFhvwDQ1KXmSq\nK2Nbks90yT8cs2t+HIpjhyAmHXNBx6vaOOeRT7ipImgJf2ZRm/vEpef4eEfgpJvR\n/CbWvJupGyhrxBe9DK2Cm/DTaGmt7I5/yQzV668CgYBXAY137HNNv/EZrc+LigIc\nOeWJBGWc+3rxwPJmlFDgVf+eaiSQ4t1M0c2KcddV5PaVRcaPF7YH+e0lffYaEEFR\npEK/6OrkaIbSVlKu4vbtNyMthJZcBOxDD8C/QHjyXDK/Hi/tYhN9zMIGIqzm4YAe\np2+llR/ud8b7RT43NJsCYg==\n-----END PRIVATE KEY-----\n",
  "client_email": "push@parley-test.iam.gserviceaccount.com",
  "token_uri": "https://oauth2.fake.test/token"
};
export const TEST_FCM_ENDPOINT = "https://fcm.fake.test";

/** base64url, as web-push libraries print them: the 32-byte scalar and the 65-byte point. */
export const TEST_VAPID_PRIVATE_KEY = "LVOLY362kE2Kfctq5AHmE7XE1_dm3S-JzKmUqkgsGCY";
export const TEST_VAPID_PUBLIC_KEY = "BE8B9IrGSTiaifKPs5uBdu9nFKmONLHn2vunZ19ty2eFU_bDUjfeAZVzGgkaqAvt-xMHv-dJ9IXUoVv-yUpXwOU";
export const TEST_VAPID_SUBJECT = "mailto:ops@parley.test";

/** Every push secret and var, as the Worker sees them (vitest.config.ts miniflare bindings). */
export const TEST_PUSH_BINDINGS = {
  APNS_KEY: TEST_APNS_KEY_P8,
  APNS_KEY_ID: TEST_APNS_KEY_ID,
  APNS_TEAM_ID: TEST_APNS_TEAM_ID,
  APNS_TOPIC: TEST_APNS_TOPIC,
  APNS_ENDPOINT: TEST_APNS_ENDPOINT,
  APNS_SANDBOX_ENDPOINT: TEST_APNS_SANDBOX_ENDPOINT,
  FCM_SERVICE_ACCOUNT: JSON.stringify(TEST_FCM_SERVICE_ACCOUNT),
  FCM_ENDPOINT: TEST_FCM_ENDPOINT,
  VAPID_PUBLIC_KEY: TEST_VAPID_PUBLIC_KEY,
  VAPID_PRIVATE_KEY: TEST_VAPID_PRIVATE_KEY,
  VAPID_SUBJECT: TEST_VAPID_SUBJECT,
  // Retries back off from 0 s in tests so the dead-letter path runs in well under a second.
  PUSH_RETRY_BASE_SECONDS: "0",
};
