/**
 * The Durable Objects' fast checks of their hot RPC inputs (parseEnqueueInput, parseSubmitInput,
 * parseReceiptInput) against the schemas they stand in for: for valid inputs and for each of many
 * hostile variations, they accept exactly what zod accepts and return what zod returns, so the
 * shortcut never widens the boundary.
 */
import { describe, expect, it } from "vitest";
import { EnqueueInput, parseEnqueueInput, parseReceiptInput, parseSubmitInput, ReceiptInput, SubmitInput } from "../../src/protocol/internal";

const account = "0f8fad5b-d9cb-469f-a165-70867728950e";
const euAccount = "eu-7c9e6679-7425-40de-944b-e07fc1f90ae7";
const message = {
  kind: "message",
  chat_id: "d_0123456789abcdef0123456789abcdef",
  chat_seq: 7,
  msg_id: "msg-0123456789abcdef",
  sender: { account_id: account, device_id: 1 },
  server_ts: 1_795_000_000_000,
  type: "message",
  content: "QUJDRA==",
};
const receipt = {
  kind: "receipt",
  chat_id: "d_eu_0123456789abcdef0123456789abcdef",
  status: "delivered",
  reader: { account_id: euAccount, device_id: 2 },
  up_to_seq: 9,
  msg_ids: ["msg-0123456789abcdef", "msg_fedcba9876543210"],
  server_ts: 0,
};

/** Each variation changes one thing of a valid entry (a field's value, an extra or missing key). */
function variations(base: Record<string, unknown>): unknown[] {
  const bad: unknown[] = [
    null,
    "entry",
    [base],
    { ...base, extra: 1 },
    { ...base, kind: "gap" },
    { ...base, server_ts: -1 },
    { ...base, server_ts: 1.5 },
    { ...base, server_ts: Number.MAX_SAFE_INTEGER + 2 },
    { ...base, chat_id: "d_0123456789ABCDEF0123456789abcdef" },
    { ...base, chat_id: "x_0123456789abcdef0123456789abcdef" },
    { ...base, chat_id: 5 },
    Object.assign(Object.create({ inherited: true }) as object, base),
  ];
  for (const key of Object.keys(base)) {
    const { [key]: _dropped, ...rest } = base;
    bad.push(rest);
  }
  for (const addressKey of ["sender", "reader"]) {
    if (!(addressKey in base)) continue;
    const address = base[addressKey] as Record<string, unknown>;
    bad.push(
      { ...base, [addressKey]: { ...address, device_id: 0 } },
      { ...base, [addressKey]: { ...address, device_id: 1_000_001 } },
      { ...base, [addressKey]: { ...address, device_id: "1" } },
      { ...base, [addressKey]: { ...address, account_id: "not-an-account" } },
      { ...base, [addressKey]: { ...address, extra: true } },
      { ...base, [addressKey]: null },
    );
  }
  return bad;
}

const messageVariations = [
  ...variations(message),
  { ...message, chat_seq: 0 },
  { ...message, msg_id: "short" },
  { ...message, msg_id: "x".repeat(65) },
  { ...message, msg_id: "has space in it 0123" },
  { ...message, type: "sender_key" },
  { ...message, type: "other" },
  { ...message, content: "" },
  { ...message, content: "A".repeat(Math.ceil((96 * 1024) / 3) * 4) },
  { ...message, content: "A".repeat(Math.ceil((96 * 1024) / 3) * 4 + 1) },
  { ...message, distribution: { type: "prekey", content: "QQ==" } },
];
const receiptVariations = [
  ...variations(receipt),
  { ...receipt, status: "seen" },
  { ...receipt, up_to_seq: 0 },
  { ...receipt, msg_ids: [] },
  { ...receipt, msg_ids: Array.from({ length: 100 }, (_, i) => `msg-${String(i).padStart(16, "0")}`) },
  { ...receipt, msg_ids: Array.from({ length: 101 }, (_, i) => `msg-${String(i).padStart(16, "0")}`) },
  { ...receipt, msg_ids: ["bad id"] },
  { ...receipt, msg_ids: "msg-0123456789abcdef" },
];

function outcome(parse: (raw: unknown) => unknown, raw: unknown): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: parse(raw) };
  } catch {
    return { ok: false };
  }
}

describe("parseEnqueueInput", () => {
  it("accepts valid message and receipt entries as they are", () => {
    const entries = [message, receipt, { ...message, type: "prekey", chat_seq: 8 }];
    expect(parseEnqueueInput(entries)).toEqual(EnqueueInput.parse(entries));
    expect(parseEnqueueInput(entries)).toBe(entries);
  });

  it("agrees with EnqueueInput on every variation, valid or not", () => {
    let refused = 0;
    for (const entry of [...messageVariations, ...receiptVariations]) {
      for (const input of [[entry], [message, entry], entry]) {
        const expected = outcome((raw) => EnqueueInput.parse(raw), input);
        expect(outcome(parseEnqueueInput, input), JSON.stringify(input)?.slice(0, 300)).toEqual(expected);
        if (!expected.ok) refused++;
      }
    }
    expect(refused).toBeGreaterThan(80);
  });

  it("bounds the batch size as EnqueueInput does", () => {
    expect(parseEnqueueInput(Array.from({ length: 5000 }, () => message))).toHaveLength(5000);
    expect(() => parseEnqueueInput(Array.from({ length: 5001 }, () => message))).toThrow();
  });
});

const submit = {
  chat_id: "d_0123456789abcdef0123456789abcdef",
  members: [account, euAccount],
  sender: { account_id: account, device_id: 1 },
  msg_id: "msg-0123456789abcdef",
  envelopes: [
    { account_id: euAccount, device_id: 1, registration_id: 12345, type: "prekey", content: "QUJDRA==" },
    { account_id: account, device_id: 2, registration_id: -1, type: "message", content: "QQ==" },
  ],
  send_limit: { limit: 1000, window_ms: 60_000 },
};
const envelope = submit.envelopes[0]!;
const { send_limit: _limit, ...submitWithoutLimit } = submit;
const submitVariations: unknown[] = [
  submit,
  submitWithoutLimit,
  ...variations(submit),
  { ...submit, members: [] },
  { ...submit, members: [account, euAccount, account] },
  { ...submit, members: ["nobody"] },
  { ...submit, envelopes: [] },
  { ...submit, envelopes: [{ ...envelope, type: "sender_key" }] },
  { ...submit, envelopes: [{ ...envelope, registration_id: 1.5 }] },
  { ...submit, envelopes: [{ ...envelope, device_id: 0 }] },
  { ...submit, envelopes: [{ ...envelope, content: "" }] },
  { ...submit, envelopes: [{ ...envelope, extra: 1 }] },
  { ...submit, envelopes: [{ ...envelope, account_id: "x" }] },
  { ...submit, send_limit: { limit: 0, window_ms: 60_000 } },
  { ...submit, send_limit: { limit: 5, window_ms: 999 } },
  { ...submit, send_limit: { limit: 5, window_ms: 60_000, extra: 1 } },
  { ...submit, send_limit: undefined },
  { ...submit, msg_id: "short" },
];
const receiptInput = { reader: { account_id: account, device_id: 3 }, status: "read", up_to_seq: 4 };
const receiptInputVariations: unknown[] = [
  receiptInput,
  ...variations(receiptInput),
  { ...receiptInput, status: "delivered" },
  { ...receiptInput, status: "seen" },
  { ...receiptInput, up_to_seq: 0 },
  { ...receiptInput, up_to_seq: 2.5 },
];

describe("parseSubmitInput and parseReceiptInput", () => {
  it("accept valid inputs as they are", () => {
    expect(parseSubmitInput(submit)).toBe(submit);
    expect(parseSubmitInput(submitWithoutLimit)).toBe(submitWithoutLimit);
    expect(parseReceiptInput(receiptInput)).toBe(receiptInput);
  });

  it("agree with SubmitInput and ReceiptInput on every variation, valid or not", () => {
    let refused = 0;
    for (const input of submitVariations) {
      const expected = outcome((raw) => SubmitInput.parse(raw), input);
      expect(outcome(parseSubmitInput, input), JSON.stringify(input)?.slice(0, 300)).toEqual(expected);
      if (!expected.ok) refused++;
    }
    for (const input of receiptInputVariations) {
      const expected = outcome((raw) => ReceiptInput.parse(raw), input);
      expect(outcome(parseReceiptInput, input), JSON.stringify(input)).toEqual(expected);
      if (!expected.ok) refused++;
    }
    expect(refused).toBeGreaterThan(40);
  });
});
