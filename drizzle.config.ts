// drizzle-kit 0.31 writes flat NNNN_name.sql files that wrangler and readD1Migrations read.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
