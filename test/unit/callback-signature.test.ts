import { describe, expect, it } from 'vitest';
import { formatEventTime, iceCallbackSignature } from '../../local/ims/callback';

// Vectors from IMS's "Callback authentication" guide. Its worked example names the AuthKey `Test123`,
// yet the signature it prints is the MD5 for the key spelled `test123`. Both values are checked here,
// each with the key that really produces it.
const CALLBACK_URL = 'https://www.example.com/your/callback';
const TIMESTAMP = 1519375990;

describe('iceCallbackSignature', () => {
  it('matches the guide value for test123', () => {
    expect(iceCallbackSignature(CALLBACK_URL, TIMESTAMP, 'test123')).toBe('c72b60894140fa98920f1279219b7ed4');
  });

  it('gives another value for Test123', () => {
    expect(iceCallbackSignature(CALLBACK_URL, TIMESTAMP, 'Test123')).toBe('c587b80d2d0ede300e8967937da7219b');
  });

  it('treats a string timestamp like a number', () => {
    expect(iceCallbackSignature(CALLBACK_URL, String(TIMESTAMP), 'test123')).toBe('c72b60894140fa98920f1279219b7ed4');
  });
});

describe('formatEventTime', () => {
  it('formats UTC without milliseconds', () => {
    expect(formatEventTime(TIMESTAMP)).toBe('2018-02-23T08:53:10Z');
  });
});
