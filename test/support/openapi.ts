/**
 * Reading the served OpenAPI document and the app's router, so tests can walk every route
 * without keeping a second, hand-written list of them.
 */

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"] as const;

/** The parts of an OpenAPI 3.1 document these tests read. */
export interface OpenApiOperation {
  security?: Record<string, string[]>[];
  requestBody?: unknown;
  responses?: Record<string, unknown>;
}

export interface OpenApiDocument {
  openapi: string;
  paths?: Record<string, Partial<Record<(typeof METHODS)[number], OpenApiOperation>>>;
  components?: { securitySchemes?: Record<string, { type?: string; scheme?: string }> };
}

export interface DocumentedOperation {
  method: string;
  /** OpenAPI form with the /v1 prefix: /v1/keys/bundle/{account_id} */
  path: string;
  operation: OpenApiOperation;
}

export function documentedOperations(doc: OpenApiDocument): DocumentedOperation[] {
  const out: DocumentedOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item?.[method];
      if (operation) out.push({ method, path, operation });
    }
  }
  return out;
}

/** Hono's ":param" path syntax in OpenAPI's "{param}" form. */
export function toOpenApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}");
}

/** Valid example values for the API's path parameters, so a request reaches the handler. */
const EXAMPLE_PARAMS: Record<string, string> = {
  account_id: "6f1c2a9e-2f4b-4c7d-9a1e-0b2c3d4e5f60",
  device_id: "2",
  handle: "alice",
  chat_id: "d_00112233445566778899aabbccddeeff",
  chat_seq: "1",
  media_id: "m_00112233445566778899aabbccddeeff",
  part_number: "1",
  channel_id: "AAAAAAAAAAAAAAAAAAAAAA",
};

export function examplePath(openApiPath: string): string {
  return openApiPath.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = EXAMPLE_PARAMS[name];
    if (value === undefined) throw new Error(`no example value for path parameter {${name}}: add one to test/support/openapi.ts`);
    return value;
  });
}
