/**
 * CRC-64/XZ, the checksum OSS returns as `x-oss-hash-crc64ecma`: the ECMA-182 polynomial in reflected form,
 * with the register initialised to all ones and the result XORed with all ones. Results are unsigned
 * decimal strings, as OSS sends them.
 *
 * The 64-bit register is kept as two uint32 halves because JavaScript bitwise operators work on 32 bits and
 * BigInt arithmetic per byte would be far too slow. `update` uses slicing-by-8 tables.
 */

/** ECMA-182 polynomial 0x42F0E1EBA9EA3693, bit-reversed, split into halves. */
const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;

const TABLE_COUNT = 8;

/** Entry `t * 256 + b` of table t is the register change for byte b followed by t zero bytes. */
const TABLE_LO = new Uint32Array(TABLE_COUNT * 256);
const TABLE_HI = new Uint32Array(TABLE_COUNT * 256);

fillTables();

function fillTables(): void {
  for (let byte = 0; byte < 256; byte++) {
    let lo = byte;
    let hi = 0;
    for (let bit = 0; bit < 8; bit++) {
      const lowBitSet = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (lowBitSet) {
        lo = (lo ^ POLY_LO) >>> 0;
        hi = (hi ^ POLY_HI) >>> 0;
      }
    }
    TABLE_LO[byte] = lo;
    TABLE_HI[byte] = hi;
  }

  for (let table = 1; table < TABLE_COUNT; table++) {
    for (let byte = 0; byte < 256; byte++) {
      const previous = (table - 1) * 256 + byte;
      const lo = TABLE_LO[previous]!;
      const hi = TABLE_HI[previous]!;
      const index = lo & 0xff;
      TABLE_LO[table * 256 + byte] = (TABLE_LO[index]! ^ ((lo >>> 8) | (hi << 24))) >>> 0;
      TABLE_HI[table * 256 + byte] = (TABLE_HI[index]! ^ (hi >>> 8)) >>> 0;
    }
  }
}

/**
 * Incremental CRC-64/XZ.
 *
 * @example
 * const crc = new Crc64();
 * for await (const chunk of stream) crc.update(chunk);
 * crc.digest(); // '11051210869376104954' for the bytes of "123456789"
 */
export class Crc64 {
  #lo = 0xffffffff;
  #hi = 0xffffffff;

  /** Adds `chunk` to the checksum and returns this instance, so calls can be chained. */
  update(chunk: Uint8Array): this {
    let lo = this.#lo;
    let hi = this.#hi;
    const length = chunk.length;
    const blockEnd = length - (length % 8);
    let i = 0;

    for (; i < blockEnd; i += 8) {
      const xLo = lo ^ (chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16) | (chunk[i + 3]! << 24));
      const xHi = hi ^ (chunk[i + 4]! | (chunk[i + 5]! << 8) | (chunk[i + 6]! << 16) | (chunk[i + 7]! << 24));
      const i7 = 7 * 256 + (xLo & 0xff);
      const i6 = 6 * 256 + ((xLo >>> 8) & 0xff);
      const i5 = 5 * 256 + ((xLo >>> 16) & 0xff);
      const i4 = 4 * 256 + (xLo >>> 24);
      const i3 = 3 * 256 + (xHi & 0xff);
      const i2 = 2 * 256 + ((xHi >>> 8) & 0xff);
      const i1 = 256 + ((xHi >>> 16) & 0xff);
      const i0 = xHi >>> 24;
      lo =
        TABLE_LO[i7]! ^ TABLE_LO[i6]! ^ TABLE_LO[i5]! ^ TABLE_LO[i4]! ^
        TABLE_LO[i3]! ^ TABLE_LO[i2]! ^ TABLE_LO[i1]! ^ TABLE_LO[i0]!;
      hi =
        TABLE_HI[i7]! ^ TABLE_HI[i6]! ^ TABLE_HI[i5]! ^ TABLE_HI[i4]! ^
        TABLE_HI[i3]! ^ TABLE_HI[i2]! ^ TABLE_HI[i1]! ^ TABLE_HI[i0]!;
    }

    for (; i < length; i++) {
      const index = (lo ^ chunk[i]!) & 0xff;
      lo = TABLE_LO[index]! ^ ((lo >>> 8) | (hi << 24));
      hi = TABLE_HI[index]! ^ (hi >>> 8);
    }

    this.#lo = lo >>> 0;
    this.#hi = hi >>> 0;
    return this;
  }

  /** Returns the checksum of everything added so far. Later `update` calls continue from the same state. */
  digest(): string {
    return this.digestBigInt().toString();
  }

  /** Returns the checksum of everything added so far as an unsigned 64-bit BigInt. */
  digestBigInt(): bigint {
    const hi = (this.#hi ^ 0xffffffff) >>> 0;
    const lo = (this.#lo ^ 0xffffffff) >>> 0;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
}

/** Returns the CRC-64/XZ of `data` as an unsigned decimal string. */
export function crc64(data: Uint8Array): string {
  return new Crc64().update(data).digest();
}

const MASK_64 = (1n << 64n) - 1n;
const POLY = (BigInt(POLY_HI) << 32n) | BigInt(POLY_LO);
/** The polynomial 1 (x^0) in reflected form, where the top bit is the x^0 coefficient. */
const X_POWER_0 = 1n << 63n;

/** Multiplies two polynomials modulo the CRC polynomial, both in reflected form. */
function multiplyModPoly(a: bigint, b: bigint): bigint {
  let product = 0n;
  let multiplier = b;
  for (let bit = X_POWER_0; bit > 0n; bit >>= 1n) {
    if ((a & bit) !== 0n) product ^= multiplier;
    multiplier = (multiplier & 1n) !== 0n ? (multiplier >> 1n) ^ POLY : multiplier >> 1n;
  }
  return product & MASK_64;
}

/** `X_POWER_2_POWER[k]` is x^(2^k) modulo the polynomial, enough entries for any 64-bit byte count. */
const X_POWER_2_POWER: bigint[] = [];
{
  let power = X_POWER_0 >> 1n; // x^1
  for (let k = 0; k < 3 + 64; k++) {
    X_POWER_2_POWER.push(power);
    power = multiplyModPoly(power, power);
  }
}

/** Returns x^(8 * byteCount) modulo the polynomial, the operator that shifts a CRC past `byteCount` zero bytes. */
function shiftOperator(byteCount: bigint): bigint {
  let result = X_POWER_0;
  let remaining = byteCount;
  let k = 3; // 8 bits per byte = 2^3
  while (remaining > 0n) {
    if ((remaining & 1n) !== 0n) result = multiplyModPoly(X_POWER_2_POWER[k]!, result);
    remaining >>= 1n;
    k += 1;
  }
  return result;
}

/**
 * Returns the CRC-64/XZ of A followed by B, given the CRC of A, the CRC of B and the length of B in bytes,
 * without reading either. This is how the checksum of a multipart object follows from its parts.
 */
export function combineCrc64(crcA: string | bigint, crcB: string | bigint, lengthB: number | bigint): string {
  const a = toCrcValue(crcA, 'crcA');
  const b = toCrcValue(crcB, 'crcB');
  const length = BigInt(lengthB);
  if (length < 0n || length > MASK_64) throw new RangeError(`lengthB must be between 0 and 2^64 - 1, got ${lengthB}`);
  if (length === 0n) return a.toString();
  return (multiplyModPoly(shiftOperator(length), a) ^ b).toString();
}

function toCrcValue(value: string | bigint, name: string): bigint {
  const parsed = typeof value === 'bigint' ? value : /^\d{1,20}$/.test(value) ? BigInt(value) : -1n;
  if (parsed < 0n || parsed > MASK_64) throw new RangeError(`${name} must be an unsigned 64-bit decimal, got "${value}"`);
  return parsed;
}
