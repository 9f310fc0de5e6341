#!/usr/bin/env node
// The `parley` command: runs the TypeScript CLI through tsx (a project dependency), so
// `npx parley ...` works right after `npm ci`, with no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/index.ts");
