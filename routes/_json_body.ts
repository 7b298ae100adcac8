/**
 * Reads a JSON object body with a 4xx that says what is wrong.
 *
 * @module
 */
import { HttpError } from "../lib/http_error.ts";

/**
 * The request's body as a JSON object.
 *
 * @throws {HttpError} 415 unless JSON, 400 when it does not parse or is not an object
 */
export async function readJsonObject(
  request: Request,
): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    throw new HttpError(
      415,
      `Expected Content-Type application/json, got "${type || "none"}"`,
    );
  }
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    throw new HttpError(400, "Request body is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, "Request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}
