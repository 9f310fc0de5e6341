/**
 * @module The SDK's only caller of `fetch` (and, for media requests in Node, of node:http through
 * node-media-http.ts): one method per /v1 route the client uses, request bodies typed from and
 * responses parsed with the same zod schemas the server validates with (src/protocol), so the two
 * cannot drift. Knows nothing about keys or sessions: a token provider
 * supplies the bearer token and is asked to renew it once when the server says it expired.
 */
import type { z } from "zod";
import {
  AccountLookup,
  Challenge,
  DeviceList,
  Registered,
  Token,
  VerificationStarted,
  type RegistrationRequest,
} from "../protocol/accounts";
import { PrekeyBundle, PrekeyCount, type PrekeyUpload, type SignedPrekey } from "../protocol/keys";
import { GroupInfo, GroupList, type AddMembers, type CreateGroup, type GroupSendMessage } from "../protocol/groups";
import { MessageReceipts, SendAck, type SendMessage } from "../protocol/messages";
import { MediaParts, MediaPartStored, MediaSlot, type MediaSlotRequest, MediaStored } from "../protocol/media";
import { BlockList, ReportCreated, type ReportRequest } from "../protocol/moderation";
import { PresenceStatus, PrivacySettings, type PrivacyUpdate } from "../protocol/presence";
import { type PushTokenInput, WebPushKey } from "../protocol/push";
import type { SignedDeviceList } from "../protocol/device-lists";
import { type LinkDeviceRequest, ProvisioningChannel, type ProvisioningEnvelope, ProvisioningReceived } from "../protocol/provisioning";
import { ParleyApiError, TransportError } from "./errors";
import { type MediaTransport, nodeMediaHttp } from "./node-media-http";

function apiError(status: number, json: unknown): ParleyApiError {
  const error = (json as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
  return new ParleyApiError(status, error?.code ?? "http_error", error?.message ?? `HTTP ${status}`, error?.details);
}

function parseWith<T extends z.ZodType>(schema: T, json: unknown, status: number, what: string): z.output<T> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ParleyApiError(status, "bad_response", `unexpected response to ${what}`);
  return parsed.data;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * An upload body: bytes, or a stream of exactly `length` bytes. Node sends a stream as it is
 * produced; browsers cannot stream a request body over HTTP/1.1, so there it is collected into a
 * Blob first (the browser keeps Blob bytes outside the JavaScript heap). `written(piece)` runs
 * once the transport holds no reference to a piece any more (node-media-http.ts only: `fetch`
 * never says), so its memory may be reused before the response.
 */
export type MediaBody = Uint8Array | { stream: ReadableStream<Uint8Array>; length: number; written?: (piece: Uint8Array) => void };

const streamsRequestBodies = typeof process !== "undefined" && typeof process.versions?.node === "string";

async function requestBody(body: MediaBody | undefined): Promise<RequestInit> {
  if (body === undefined) return {};
  if (body instanceof Uint8Array) return { body: body as BodyInit };
  if (!streamsRequestBodies) return { body: new Blob((await collect(body.stream)) as ConstructorParameters<typeof Blob>[0]) };
  // `duplex: "half"` is what undici requires of a stream body; Content-Length spares chunked encoding.
  return { body: body.stream, duplex: "half", headers: { "content-length": String(body.length) } } as RequestInit;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const pieces: Uint8Array[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) pieces.push(r.value);
  return pieces;
}

export interface TokenProvider {
  /** A valid bearer token (renewing it if needed). */
  token(): Promise<string>;
  /** Forget the cached token: the server refused it. */
  invalidate(): void;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export class ApiClient {
  private readonly fetch: FetchLike;
  /**
   * Media requests in Node when the app left `fetch` to the SDK: node:http(s), whose buffers the
   * SDK can free or reuse as it goes (node-media-http.ts); null: the same `fetch` as everything.
   */
  private readonly nodeMedia: MediaTransport | null;

  constructor(
    readonly baseUrl: string,
    options: { fetch?: FetchLike; tokens?: TokenProvider } = {},
    private tokens: TokenProvider | undefined = options.tokens,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.nodeMedia = options.fetch ? null : nodeMediaHttp();
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
        throw apiError(res.status, json);
      }
      if (schema === null) return undefined as z.output<T>;
      return parseWith(schema, json, res.status, `${method} ${path}`);
    }
  }

  /**
   * A media request: binary body or binary response, authorized by a capability in the URL (no
   * bearer token). `url` is a path on this server or, in presigned mode, an absolute R2 URL.
   * Returns the response for a 2xx; throws ParleyApiError otherwise (an R2 error body is not JSON).
   */
  private async media(
    method: Method | "HEAD",
    url: string,
    init: { body?: MediaBody; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const absolute = /^https?:/.test(url) ? url : `${this.baseUrl}${url}`;
    const headers = { ...(init.body ? { "content-type": "application/octet-stream" } : {}), ...init.headers };
    let res: Response;
    try {
      if (this.nodeMedia) res = await this.nodeMedia(absolute, { method, headers, body: init.body });
      else {
        const body = await requestBody(init.body);
        res = await this.fetch(absolute, { method, ...body, headers: { ...headers, ...(body.headers as Record<string, string> | undefined) } });
      }
    } catch (err) {
      throw new TransportError(`cannot reach ${new URL(absolute).origin}: ${String(err)}`, err);
    }
    if (res.ok || res.status === 304) return res;
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // R2 (presigned mode) answers errors in XML.
    }
    throw apiError(res.status, json);
  }

  private async mediaJson<T extends z.ZodType>(method: Method, url: string, schema: T, body?: MediaBody): Promise<z.output<T>> {
    const res = await this.media(method, url, { body });
    return parseWith(schema, await res.json().catch(() => null), res.status, `${method} media`);
  }

  mediaSlot(body: z.input<typeof MediaSlotRequest>) {
    return this.request("POST", "/v1/media", MediaSlot, body);
  }

  /** Single-mode upload; `null` back from a presigned URL (R2 answers, not the Worker: complete next). */
  async putMedia(url: string, body: MediaBody, presigned: boolean) {
    if (presigned) {
      await this.media("PUT", url, { body });
      return null;
    }
    return this.mediaJson("PUT", url, MediaStored, body);
  }

  putMediaPart(mediaId: string, cap: string, partNumber: number, body: MediaBody) {
    return this.mediaJson("PUT", `/v1/media/${mediaId}/parts/${partNumber}?cap=${encodeURIComponent(cap)}`, MediaPartStored, body);
  }

  mediaParts(mediaId: string, cap: string) {
    return this.mediaJson("GET", `/v1/media/${mediaId}/parts?cap=${encodeURIComponent(cap)}`, MediaParts);
  }

  completeMedia(mediaId: string, cap: string) {
    return this.mediaJson("POST", `/v1/media/${mediaId}/complete?cap=${encodeURIComponent(cap)}`, MediaStored);
  }

  async abortMedia(mediaId: string, cap: string): Promise<void> {
    await this.media("DELETE", `/v1/media/${mediaId}/upload?cap=${encodeURIComponent(cap)}`);
  }

  /**
   * The ciphertext, whole or a byte range [start, end); the caller streams `body`. With a null
   * capability, as a member of a chat that referenced the media (this device's bearer token).
   */
  async downloadMedia(mediaId: string, cap: string | null, range?: { start: number; end: number }): Promise<Response> {
    const headers: Record<string, string> = range ? { range: `bytes=${range.start}-${range.end - 1}` } : {};
    if (cap !== null) return this.media("GET", `/v1/media/${mediaId}?cap=${encodeURIComponent(cap)}`, { headers });
    if (!this.tokens) throw new Error("downloading without a capability needs a registered device");
    headers.authorization = `Bearer ${await this.tokens.token()}`;
    return this.media("GET", `/v1/media/${mediaId}`, { headers });
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

  devices() {
    return this.request("GET", "/v1/devices", DeviceList);
  }

  publishDeviceList(body: z.input<typeof SignedDeviceList>) {
    return this.request("PUT", "/v1/devices/list", null, body);
  }

  devicesChanged(chatIds: string[]) {
    return this.request("POST", "/v1/devices/changed", null, { chat_ids: chatIds });
  }

  removeDevice(deviceId: number) {
    return this.request("DELETE", `/v1/devices/${deviceId}`, null);
  }

  linkDevice(body: z.input<typeof LinkDeviceRequest>) {
    return this.request("POST", "/v1/devices/link", Registered, body, false);
  }

  openProvisioning() {
    return this.request("POST", "/v1/provisioning", ProvisioningChannel, undefined, false);
  }

  deliverProvisioning(channelId: string, envelope: z.input<typeof ProvisioningEnvelope>) {
    return this.request("PUT", `/v1/provisioning/${encodeURIComponent(channelId)}/message`, null, envelope);
  }

  receiveProvisioning(channelId: string, receiveSecret: string) {
    return this.request("POST", `/v1/provisioning/${encodeURIComponent(channelId)}/receive`, ProvisioningReceived, { receive_secret: receiveSecret }, false);
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

  createGroup(body: z.input<typeof CreateGroup>) {
    return this.request("POST", "/v1/groups", GroupInfo, body);
  }

  groups() {
    return this.request("GET", "/v1/groups", GroupList);
  }

  groupInfo(chatId: string) {
    return this.request("GET", `/v1/groups/${chatId}`, GroupInfo);
  }

  addGroupMembers(chatId: string, body: z.input<typeof AddMembers>) {
    return this.request("POST", `/v1/groups/${chatId}/members`, GroupInfo, body);
  }

  removeGroupMember(chatId: string, accountId: string) {
    return this.request("DELETE", `/v1/groups/${chatId}/members/${accountId}`, GroupInfo);
  }

  leaveGroup(chatId: string) {
    return this.request("POST", `/v1/groups/${chatId}/leave`, null);
  }

  setGroupRole(chatId: string, accountId: string, role: "admin" | "member") {
    return this.request("PUT", `/v1/groups/${chatId}/members/${accountId}/role`, GroupInfo, { role });
  }

  sendGroup(chatId: string, body: z.input<typeof GroupSendMessage>) {
    return this.request("POST", `/v1/groups/${chatId}/messages`, SendAck, body);
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

  /** Blocks an account: its messages, typing and presence stop reaching this account (it is not told). */
  block(accountId: string) {
    return this.request("PUT", `/v1/blocks/${encodeURIComponent(accountId)}`, null);
  }

  unblock(accountId: string) {
    return this.request("DELETE", `/v1/blocks/${encodeURIComponent(accountId)}`, null);
  }

  blocks() {
    return this.request("GET", "/v1/blocks", BlockList);
  }

  /** Reports a message; `content` (the decrypted text) only if the user chose to share it. */
  report(body: z.input<typeof ReportRequest>) {
    return this.request("POST", "/v1/reports", ReportCreated, body);
  }

  /** Deletes the account and everything the server holds for it (primary device only). */
  deleteAccount() {
    return this.request("DELETE", "/v1/accounts/me", null);
  }

  putPushToken(body: z.input<typeof PushTokenInput>) {
    return this.request("PUT", "/v1/push-token", null, body);
  }

  webPushKey() {
    return this.request("GET", "/v1/push-token/webpush", WebPushKey);
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
