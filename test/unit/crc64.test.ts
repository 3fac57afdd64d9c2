import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Crc64, combineCrc64, crc64 } from '../../lib/crc64';

const ALL_ONES = (1n << 64n) - 1n;
/** ECMA-182 polynomial, bit-reversed, as the CRC-64/XZ catalogue entry defines it. */
const REFLECTED_POLY = 0xc96c5795d7870f42n;

/** Slow bit-at-a-time CRC-64/XZ written straight from the parameters, independent of the table code. */
function referenceCrc64(data: Uint8Array): string {
  let register = ALL_ONES;
  for (const byte of data) {
    register ^= BigInt(byte);
    for (let bit = 0; bit < 8; bit++) {
      register = (register & 1n) !== 0n ? (register >> 1n) ^ REFLECTED_POLY : register >> 1n;
    }
  }
  return (register ^ ALL_ONES).toString();
}

/** 100 003 bytes (not a multiple of 8, so the tail loop runs too) that any reader can regenerate. */
function deterministicBuffer(): Uint8Array {
  const data = new Uint8Array(100_003);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >>> 8)) & 0xff;
  return data;
}

describe('crc64', () => {
  it('matches the CRC-64/XZ check value', () => {
    // The check value for ASCII "123456789" in the CRC RevEng catalogue entry for CRC-64/XZ.
    expect(crc64(Buffer.from('123456789', 'ascii'))).toBe('11051210869376104954');
  });

  it('returns 0 for empty input', () => {
    expect(crc64(new Uint8Array(0))).toBe('0');
  });

  it('matches the bitwise reference on a large buffer', () => {
    const data = deterministicBuffer();

    expect(referenceCrc64(data)).toBe('9427666404019579534');
    expect(crc64(data)).toBe('9427666404019579534');
  });

  it('matches the bitwise reference on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        expect(crc64(data)).toBe(referenceCrc64(data));
      }),
    );
  });
});

describe('Crc64', () => {
  it('gives the one-shot value over random splits', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2_000 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (data, cutSeeds) => {
          const cuts = cutSeeds.map((seed) => seed % (data.length + 1)).sort((a, b) => a - b);
          const crc = new Crc64();
          let start = 0;
          for (const cut of [...cuts, data.length]) {
            crc.update(data.subarray(start, cut));
            start = cut;
          }
          expect(crc.digest()).toBe(crc64(data));
        },
      ),
    );
  });

  it('keeps counting after digest', () => {
    const crc = new Crc64().update(Buffer.from('12345'));
    crc.digest();
    crc.update(Buffer.from('6789'));

    expect(crc.digest()).toBe('11051210869376104954');
  });

  it('returns the same value as a BigInt', () => {
    expect(new Crc64().update(Buffer.from('123456789')).digestBigInt()).toBe(11051210869376104954n);
  });
});

describe('combineCrc64', () => {
  it('equals the checksum of the concatenation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.uint8Array({ maxLength: 500 }), (a, b) => {
        const joined = new Uint8Array([...a, ...b]);
        expect(combineCrc64(crc64(a), crc64(b), b.length)).toBe(crc64(joined));
      }),
    );
  });

  it('handles a second part of many MiB', () => {
    const a = Buffer.from('head');
    const b = Buffer.alloc(5 * 1024 * 1024 + 3, 0x5a);

    expect(combineCrc64(crc64(a), crc64(b), b.length)).toBe(crc64(Buffer.concat([a, b])));
  });

  it('accepts BigInt checksums', () => {
    expect(combineCrc64(crc64(Buffer.from('1234')), BigInt(crc64(Buffer.from('56789'))), 5n)).toBe(
      '11051210869376104954',
    );
  });

  it('returns the first checksum for an empty second part', () => {
    expect(combineCrc64('11051210869376104954', '0', 0)).toBe('11051210869376104954');
  });

  it('rejects a checksum that is not an unsigned decimal', () => {
    expect(() => combineCrc64('-1', '0', 1)).toThrow(/crcA must be an unsigned 64-bit decimal, got "-1"/);
  });

  it('rejects a checksum above 64 bits', () => {
    expect(() => combineCrc64('0', (1n << 64n).toString(), 1)).toThrow(/crcB must be an unsigned 64-bit decimal/);
  });

  it('rejects an empty checksum', () => {
    expect(() => combineCrc64('', '0', 1)).toThrow(/crcA must be an unsigned 64-bit decimal, got ""/);
  });

  it('rejects a negative length', () => {
    expect(() => combineCrc64('0', '0', -1)).toThrow(/lengthB must be between 0 and 2\^64 - 1, got -1/);
  });
});
