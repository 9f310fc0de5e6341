/**
 * @module The `parley` command line: global options, the command table, and error reporting.
 * Each command lives in commands/<name>.ts; a new feature adds a file and a row here.
 *
 *   parley [--server URL] [--home DIR] <command> [args]
 */
import { ParleyApiError, TransportError } from "../client/index";
import { chats } from "./commands/chats";
import { devices, unlink } from "./commands/devices";
import { download } from "./commands/download";
import { history } from "./commands/history";
import { link, linkApprove } from "./commands/link";
import { group } from "./commands/group";
import { presence, privacy, typing } from "./commands/presence";
import { read } from "./commands/read";
import { recv } from "./commands/recv";
import { register } from "./commands/register";
import { send } from "./commands/send";
import { sendFile } from "./commands/send-file";
import { defaultContext, type CliContext } from "./context";
import { CliError, info, USAGE_EXIT } from "./output";

const COMMANDS: Record<string, { usage: string; run: (ctx: CliContext, args: string[]) => Promise<void> }> = {
  register: { usage: "register <handle> [--jurisdiction eu]", run: register },
  send: { usage: "send <handle> <text>", run: send },
  group: { usage: "group create <name> <handle>... | add|remove <chat_id> <handle> | send <chat_id> <text> | info <chat_id> | leave <chat_id>", run: group },
  "send-file": { usage: "send-file <handle> <path> [--mime TYPE] [--caption TEXT]", run: sendFile },
  recv: { usage: "recv [--timeout SECONDS] [--save-dir DIR]", run: recv },
  download: { usage: "download <msg_id> <path>", run: download },
  read: { usage: "read <chat_id>", run: read },
  chats: { usage: "chats", run: chats },
  presence: { usage: "presence <handle>", run: presence },
  typing: { usage: "typing <handle> [typing|recording|stopped]", run: typing },
  privacy: { usage: "privacy [--last-seen V] [--online V]   (V: everyone|contacts|nobody)", run: privacy },
  history: { usage: "history <chat_id>", run: history },
  link: { usage: "link [--name NAME]   (on the new device: shows a QR code, waits for approval)", run: link },
  "link-approve": { usage: "link-approve <payload> [--history N]   (on the primary device)", run: linkApprove },
  devices: { usage: "devices", run: devices },
  unlink: { usage: "unlink <device_id>", run: unlink },
};

function usage(): string {
  return [
    "usage: parley [--server URL] [--home DIR] <command> [args]",
    "  --server URL   default http://127.0.0.1:8787 (env PARLEY_SERVER)",
    "  --home DIR     device state, default ~/.parley (env PARLEY_HOME)",
    "commands:",
    ...Object.values(COMMANDS).map((c) => `  parley ${c.usage}`),
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const ctx = defaultContext(process.env);
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if ((arg === "--server" || arg === "--home") && rest.length === 0) {
      const value = argv[++i];
      if (!value) {
        info(`${arg} needs a value\n${usage()}`);
        return USAGE_EXIT;
      }
      if (arg === "--server") ctx.server = value;
      else ctx.home = value;
    } else {
      rest.push(arg);
    }
  }
  const [name, ...args] = rest;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    info(name && name !== "help" && name !== "--help" ? `unknown command: ${name}\n${usage()}` : usage());
    return name === "help" || name === "--help" ? 0 : USAGE_EXIT;
  }
  try {
    await command.run(ctx, args);
    return 0;
  } catch (err) {
    if (err instanceof CliError) {
      info(`parley ${name}: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof ParleyApiError) {
      info(`parley ${name}: server said ${err.status} ${err.code}: ${err.message}`);
      return 1;
    }
    if (err instanceof TransportError) {
      info(`parley ${name}: ${err.message}`);
      return 1;
    }
    info(`parley ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

const exitCode = await main(process.argv.slice(2));
// Exit once stdout is flushed: idle HTTP keep-alive sockets must not hold a finished command open.
process.stdout.write("", () => process.exit(exitCode));
