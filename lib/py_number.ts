/**
 * Python-compatible float formatting and rounding.
 *
 * Object keys carry timestamps printed by Python's `format(ts, '.3f')`, which
 * rounds the exact binary value of the double and sends exact ties to the
 * even digit. JavaScript's `toFixed` sends ties up and `Math.round(x * 100)`
 * rounds an inexact product, so both produce different keys for some
 * timestamps (reference §0). Everything here works on the exact value of the
 * double with BigInt arithmetic.
 *
 * @module
 */

/** A finite double as `sign * mantissa * 2^exponent`, mantissa an integer. */
interface ExactDouble {
  negative: boolean;
  mantissa: bigint;
  exponent: number;
}

// IEEE 754 binary64: 52 stored fraction bits, exponent bias 1023.
const FRACTION_BITS = 52;
const EXPONENT_BIAS = 1023;

/**
 * Python's `round(x, n)` returns `x` unchanged beyond this many digits and
 * a signed zero below its negative counterpart (`NDIGITS_MAX`/`NDIGITS_MIN`
 * in CPython's floatobject.c).
 */
const NDIGITS_MAX = 323;
const NDIGITS_MIN = -308;

function decompose(x: number): ExactDouble {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const negative = (bits >> 63n) === 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  if (biased === 0) {
    // Subnormal: no implicit leading bit.
    return {
      negative,
      mantissa: fraction,
      exponent: 1 - EXPONENT_BIAS - FRACTION_BITS,
    };
  }
  return {
    negative,
    mantissa: fraction | (1n << 52n),
    exponent: biased - EXPONENT_BIAS - FRACTION_BITS,
  };
}

/**
 * Rounds `|x| * 10^digits` to an integer, ties to even, on the exact value.
 * `digits` may be negative.
 */
function scaledRound(d: ExactDouble, digits: number): bigint {
  let numerator = d.mantissa;
  let denominator = 1n;
  if (d.exponent >= 0) numerator <<= BigInt(d.exponent);
  else denominator <<= BigInt(-d.exponent);
  if (digits >= 0) numerator *= 10n ** BigInt(digits);
  else denominator *= 10n ** BigInt(-digits);
  const quotient = numerator / denominator;
  const twiceRemainder = 2n * (numerator % denominator);
  if (twiceRemainder > denominator) return quotient + 1n;
  if (twiceRemainder === denominator && quotient % 2n === 1n) {
    return quotient + 1n;
  }
  return quotient;
}

function nonFinite(x: number): string {
  if (Number.isNaN(x)) return "nan";
  return x > 0 ? "inf" : "-inf";
}

/**
 * Formats `x` with exactly `digits` decimals, like Python's
 * `format(x, '.Nf')`: the exact binary value is rounded half to even.
 *
 * @param x the number to format
 * @param digits decimals after the point, 0 to 100
 * @returns the text Python prints, including `"-0.000"`, `"nan"`, `"inf"`
 *
 * @example
 * ```ts
 * formatFixed(1700000000.0625, 3); // "1700000000.062" (toFixed gives .063)
 * formatFixed(2.675, 2); // "2.67"
 * ```
 */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isInteger(digits) || digits < 0 || digits > 100) {
    throw new RangeError(
      `Cannot format ${x} with ${digits} decimals: digits must be an integer from 0 to 100`,
    );
  }
  if (!Number.isFinite(x)) return nonFinite(x);
  const exact = decompose(x);
  const scaled = scaledRound(exact, digits).toString();
  const sign = exact.negative ? "-" : "";
  if (digits === 0) return sign + scaled;
  const padded = scaled.padStart(digits + 1, "0");
  const cut = padded.length - digits;
  return `${sign}${padded.slice(0, cut)}.${padded.slice(cut)}`;
}

/**
 * Rounds `x` to `digits` decimal places like Python's `round(x, n)` on a
 * float: correctly rounded from the exact value, ties to even, sign of zero
 * kept. Negative `digits` round to tens, hundreds, and so on.
 *
 * @param x the number to round
 * @param digits decimal places; may be negative
 * @returns the nearest double to the rounded decimal
 *
 * @example
 * ```ts
 * pyRound(2.675, 2); // 2.67 (Math.round(2.675 * 100) / 100 gives 2.68)
 * pyRound(2.5, 0); // 2
 * ```
 */
export function pyRound(x: number, digits = 0): number {
  if (!Number.isInteger(digits)) {
    throw new RangeError(
      `Cannot round ${x} to ${digits} digits: digits must be an integer`,
    );
  }
  if (!Number.isFinite(x) || x === 0 || digits > NDIGITS_MAX) return x;
  const exact = decompose(x);
  const signOf = exact.negative ? -1 : 1;
  if (digits < NDIGITS_MIN) return signOf * 0;
  const scaled = scaledRound(exact, digits);
  const magnitude = Number(`${scaled}e${-digits}`);
  if (!Number.isFinite(magnitude)) {
    // CPython raises OverflowError("rounded value too large to represent").
    throw new RangeError(
      `Cannot round ${x} to ${digits} digits: rounded value too large to represent`,
    );
  }
  return signOf * magnitude;
}

/**
 * Python's `repr(x)` (and `str(x)`) of a float: the shortest digits that
 * round-trip, in fixed notation when the decimal exponent is from -4 to 15,
 * otherwise scientific with at least two exponent digits.
 *
 * @example
 * ```ts
 * pyFloatRepr(1717171717); // "1717171717.0"
 * pyFloatRepr(1e22); // "1e+22"
 * pyFloatRepr(0.00001); // "1e-05"
 * ```
 */
export function pyFloatRepr(x: number): string {
  if (!Number.isFinite(x)) return nonFinite(x);
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  // toExponential() without an argument gives the shortest round-trip
  // digits, the same digits Python's repr chooses.
  const [mantissa, exponentText] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16) {
    const expSign = exponent < 0 ? "-" : "+";
    const expDigits = String(Math.abs(exponent)).padStart(2, "0");
    return `${sign}${mantissa}e${expSign}${expDigits}`;
  }
  if (exponent < 0) {
    return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`;
  }
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0");
  const fraction = digits.slice(exponent + 1) || "0";
  return `${sign}${whole}.${fraction}`;
}
