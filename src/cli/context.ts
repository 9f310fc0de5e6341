/**
 * @module What every command gets: the parsed global options and a way to open this device's
 * Client from its state directory (a file-backed store; Node's `ws` as the WebSocket).
 */
import { homedir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { Client, type WebSocketConstructor } from "../client/index";
import { FileKeyValueStore } from "../client/store/file-store";
import { CliError } from "./output";

export interface CliContext {
  server: string;
  home: string;
}

export function defaultContext(env: NodeJS.ProcessEnv): CliContext {
  return {
    server: env.PARLEY_SERVER ?? "http://127.0.0.1:8787",
    home: env.PARLEY_HOME ?? join(homedir(), ".parley"),
  };
}

export function clientOptions(ctx: CliContext) {
  return {
    server: ctx.server,
    store: new FileKeyValueStore(join(ctx.home, "store")),
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  };
}

export async function openClient(ctx: CliContext): Promise<Client> {
  try {
    return await Client.open(clientOptions(ctx));
  } catch (err) {
    throw new CliError(`${String((err as Error).message ?? err)} (home: ${ctx.home})`);
  }
}
