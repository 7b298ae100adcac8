/**
 * Typed entry point for `@std/assert`, backed by the npm package `deno-std`
 * (see `lib/std/async.ts` for why). Only the assertions this project uses
 * are re-declared; add one here when a test needs it.
 *
 * @module
 */
import { assert as assertJs } from "deno-std/assert/assert.js";
import { AssertionError as AssertionErrorJs } from "deno-std/assert/assertion_error.js";
import { assertEquals as assertEqualsJs } from "deno-std/assert/equals.js";
import { assertNotEquals as assertNotEqualsJs } from "deno-std/assert/not_equals.js";
import { assertStrictEquals as assertStrictEqualsJs } from "deno-std/assert/strict_equals.js";
import { assertExists as assertExistsJs } from "deno-std/assert/exists.js";
import { assertFalse as assertFalseJs } from "deno-std/assert/false.js";
import { assertGreater as assertGreaterJs } from "deno-std/assert/greater.js";
import { assertGreaterOrEqual as assertGreaterOrEqualJs } from "deno-std/assert/greater_or_equal.js";
import { assertLess as assertLessJs } from "deno-std/assert/less.js";
import { assertLessOrEqual as assertLessOrEqualJs } from "deno-std/assert/less_or_equal.js";
import { assertMatch as assertMatchJs } from "deno-std/assert/match.js";
import { assertStringIncludes as assertStringIncludesJs } from "deno-std/assert/string_includes.js";
import { assertInstanceOf as assertInstanceOfJs } from "deno-std/assert/instance_of.js";
import { assertThrows as assertThrowsJs } from "deno-std/assert/throws.js";
import { assertRejects as assertRejectsJs } from "deno-std/assert/rejects.js";
import { assertAlmostEquals as assertAlmostEqualsJs } from "deno-std/assert/almost_equals.js";
import { assertObjectMatch as assertObjectMatchJs } from "deno-std/assert/object_match.js";
import { fail as failJs } from "deno-std/assert/fail.js";
import { unreachable as unreachableJs } from "deno-std/assert/unreachable.js";

// deno-lint-ignore no-explicit-any
type AnyConstructor = new (...args: any[]) => any;
// deno-lint-ignore no-explicit-any
type ErrorConstructorLike<E extends Error = Error> = new (...args: any[]) => E;

/** Thrown by every assertion that fails. */
export const AssertionError: new (message: string) => Error = AssertionErrorJs;

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg?: string): asserts expr {
  assertJs(expr, msg);
}

/** Asserts that `expr` is falsy. */
export function assertFalse(expr: unknown, msg?: string): void {
  assertFalseJs(expr, msg);
}

/** Asserts deep equality of `actual` and `expected`. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  assertEqualsJs(actual, expected, msg);
}

/** Asserts that `actual` and `expected` are not deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  assertNotEqualsJs(actual, expected, msg);
}

/** Asserts `Object.is(actual, expected)`. */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  assertStrictEqualsJs(actual, expected, msg);
}

/** Asserts that `actual` is neither `null` nor `undefined`. */
export function assertExists<T>(
  actual: T,
  msg?: string,
): asserts actual is NonNullable<T> {
  assertExistsJs(actual, msg);
}

/** Asserts `actual > expected`. */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  assertGreaterJs(actual, expected, msg);
}

/** Asserts `actual >= expected`. */
export function assertGreaterOrEqual<T>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  assertGreaterOrEqualJs(actual, expected, msg);
}

/** Asserts `actual < expected`. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  assertLessJs(actual, expected, msg);
}

/** Asserts `actual <= expected`. */
export function assertLessOrEqual<T>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  assertLessOrEqualJs(actual, expected, msg);
}

/** Asserts that `actual` is within `tolerance` of `expected`. */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance?: number,
  msg?: string,
): void {
  assertAlmostEqualsJs(actual, expected, tolerance, msg);
}

/** Asserts that `actual` matches the regular expression `expected`. */
export function assertMatch(
  actual: string,
  expected: RegExp,
  msg?: string,
): void {
  assertMatchJs(actual, expected, msg);
}

/** Asserts that `actual` contains `expected`. */
export function assertStringIncludes(
  actual: string,
  expected: string,
  msg?: string,
): void {
  assertStringIncludesJs(actual, expected, msg);
}

/** Asserts that `actual` is an instance of `expectedType`. */
export function assertInstanceOf<T extends AnyConstructor>(
  actual: unknown,
  expectedType: T,
  msg?: string,
): asserts actual is InstanceType<T> {
  assertInstanceOfJs(actual, expectedType, msg);
}

/** Asserts that `actual` has at least the properties of `expected`. */
export function assertObjectMatch(
  actual: Record<PropertyKey, unknown>,
  expected: Record<PropertyKey, unknown>,
  msg?: string,
): void {
  assertObjectMatchJs(actual, expected, msg);
}

/** Asserts that `fn` throws an `ErrorClass` whose message includes `msgIncludes`; returns the error. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass?: ErrorConstructorLike<E>,
  msgIncludes?: string,
  msg?: string,
): E {
  return assertThrowsJs(fn, ErrorClass, msgIncludes, msg);
}

/** Asserts that `fn` rejects with an `ErrorClass` whose message includes `msgIncludes`; returns the error. */
export function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: ErrorConstructorLike<E>,
  msgIncludes?: string,
  msg?: string,
): Promise<E> {
  return assertRejectsJs(fn, ErrorClass, msgIncludes, msg);
}

/** Fails the test with `msg`. */
export function fail(msg?: string): never {
  failJs(msg);
  throw new Error("unreachable");
}

/** Fails when reached. */
export function unreachable(msg?: string): never {
  unreachableJs(msg);
  throw new Error("unreachable");
}
