/**
 * @module The SDK's only caller of `fetch`: one method per /v1 route the client uses, request
 * bodies typed from and responses parsed with the same zod schemas the server validates with
 * (src/protocol), so the two cannot drift. Knows nothing about keys or sessions: a token provider
 * supplies the bearer token and is asked to renew it once when the server says it expired.
 */
import type { z } from "zod";
import {
  AccountLookup,
  Challenge,
  Registered,
  Token,
  VerificationStarted,
  type RegistrationRequest,
} from "../protocol/accounts";
import { PrekeyBundle, PrekeyCount, type PrekeyUpload, type SignedPrekey } from "../protocol/keys";
import { MessageReceipts, SendAck, type SendMessage } from "../protocol/messages";
import { PresenceStatus, PrivacySettings, type PrivacyUpdate } from "../protocol/presence";
import { ParleyApiError, TransportError } from "./errors";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface TokenProvider {
  /** A valid bearer token (renewing it if needed). */
  token(): Promise<string>;
  /** Forget the cached token: the server refused it. */
  invalidate(): void;
}

type Method = "GET" | "POST" | "PUT" | "DELETE";

export class ApiClient {
  private readonly fetch: FetchLike;

  constructor(
    readonly baseUrl: string,
    options: { fetch?: FetchLike; tokens?: TokenProvider } = {},
    private tokens: TokenProvider | undefined = options.tokens,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  useTokens(tokens: TokenProvider): void {
    this.tokens = tokens;
  }

  private async request<T extends z.ZodType>(
    method: Method,
    path: string,
    schema: T | null,
    body?: unknown,
    auth = true,
  ): Promise<z.output<T>> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers["content-type"] = "application/json";
      if (auth) {
        if (!this.tokens) throw new Error("this request needs a registered device");
        headers.authorization = `Bearer ${await this.tokens.token()}`;
      }
      let res: Response;
      try {
        res = await this.fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (err) {
        throw new TransportError(`cannot reach ${this.baseUrl}: ${String(err)}`, err);
      }
      const text = await res.text();
      let json: unknown = null;
      if (text) {
        try {
          json = JSON.parse(text);
        } catch {
          throw new ParleyApiError(res.status, "bad_response", `server answered ${res.status} with non-JSON`);
        }
      }
      if (!res.ok) {
        const error = (json as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
        // An expired token is renewed once, transparently.
        if (auth && res.status === 401 && error?.code === "token_expired" && attempt === 0) {
          this.tokens!.invalidate();
          continue;
        }
        throw new ParleyApiError(res.status, error?.code ?? "http_error", error?.message ?? `HTTP ${res.status}`, error?.details);
      }
      if (schema === null) return undefined as z.output<T>;
      const parsed = schema.safeParse(json);
      if (!parsed.success) throw new ParleyApiError(res.status, "bad_response", `unexpected response to ${method} ${path}`);
      return parsed.data;
    }
  }

  startVerification(handle: string) {
    return this.request("POST", "/v1/verifications", VerificationStarted, { handle }, false);
  }

  register(body: z.input<typeof RegistrationRequest>) {
    return this.request("POST", "/v1/accounts", Registered, body, false);
  }

  challenge(accountId: string, deviceId: number) {
    return this.request("POST", "/v1/auth/challenge", Challenge, { account_id: accountId, device_id: deviceId }, false);
  }

  token(body: { account_id: string; device_id: number; challenge: string; signature: string }) {
    return this.request("POST", "/v1/auth/token", Token, body, false);
  }

  lookupHandle(handle: string) {
    return this.request("GET", `/v1/accounts/by-handle/${encodeURIComponent(handle)}`, AccountLookup);
  }

  account(accountId: string) {
    return this.request("GET", `/v1/accounts/${encodeURIComponent(accountId)}`, AccountLookup);
  }

  bundle(accountId: string, deviceId?: number) {
    const query = deviceId === undefined ? "" : `?device_id=${deviceId}`;
    return this.request("GET", `/v1/keys/bundle/${encodeURIComponent(accountId)}${query}`, PrekeyBundle);
  }

  prekeyCount() {
    return this.request("GET", "/v1/keys/prekeys", PrekeyCount);
  }

  uploadPrekeys(body: z.input<typeof PrekeyUpload>) {
    return this.request("PUT", "/v1/keys/prekeys", PrekeyCount, body);
  }

  rotateSignedPrekey(body: z.input<typeof SignedPrekey>) {
    return this.request("PUT", "/v1/keys/signed-prekey", null, body);
  }

  send(body: z.input<typeof SendMessage>) {
    return this.request("POST", "/v1/messages", SendAck, body);
  }

  markRead(chatId: string, upToSeq: number) {
    return this.request("POST", "/v1/receipts/read", null, { chat_id: chatId, up_to_seq: upToSeq });
  }

  messageReceipts(chatId: string, chatSeq: number) {
    return this.request("GET", `/v1/chats/${chatId}/messages/${chatSeq}/receipts`, MessageReceipts);
  }

  presence(accountId: string) {
    return this.request("GET", `/v1/presence/${encodeURIComponent(accountId)}`, PresenceStatus);
  }

  privacy() {
    return this.request("GET", "/v1/privacy", PrivacySettings);
  }

  setPrivacy(update: z.input<typeof PrivacyUpdate>) {
    return this.request("PUT", "/v1/privacy", PrivacySettings, update);
  }

  /** ws:// or wss:// URL of the device socket (the token goes in the query: browsers cannot set headers). */
  socketUrl(token: string, cursor: number): string {
    return this.wsUrl("/v1/socket", { token, cursor: String(cursor) });
  }

  /** ws:// or wss:// URL of a chat's presence socket. */
  presenceSocketUrl(token: string, chatId: string): string {
    return this.wsUrl(`/v1/chats/${chatId}/presence`, { token });
  }

  private wsUrl(path: string, params: Record<string, string>): string {
    const url = new URL(`${this.baseUrl}${path}`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url.toString();
  }
}
