import { describe, expect, it } from "vitest";
import { call, register } from "../support/identity";

describe("smoke", () => {
  it("health", async () => {
    const res = await call("GET", "/v1/health");
    expect(res.body).toMatchObject({ status: "ok" });
  });
  it("registers", async () => {
    const d = await register();
    expect(d.deviceId).toBe(1);
  });
});
