import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { isQingtianError } from '../../src/common/errors.js';
import { intIn, multipleIn, oneOf, parseArgs } from '../../src/common/validate.js';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected a rejection');
}

describe('boundary validation names the field, the accepted range and the value given', () => {
  const schema = z.object({
    cores: intIn(1, 64),
    size: multipleIn(65536, 65536, 1 << 30).optional(),
    mode: oneOf(['poll', 'interrupt']).optional(),
  });

  it('integer ranges', () => {
    expect(message(() => parseArgs(schema, { cores: 0 }, 'DPU options'))).toBe(
      'DPU options.cores: expected an integer in [1, 64], got 0',
    );
    expect(message(() => parseArgs(schema, { cores: 1.5 }, 'opts'))).toBe(
      'opts.cores: expected an integer in [1, 64], got 1.5',
    );
    expect(message(() => parseArgs(schema, { cores: 'two' }, 'opts'))).toBe(
      'opts.cores: expected an integer in [1, 64], got "two"',
    );
    expect(message(() => parseArgs(schema, {}, 'opts'))).toBe(
      'opts.cores: expected an integer in [1, 64], got nothing',
    );
  });

  it('multiples and enums', () => {
    expect(message(() => parseArgs(schema, { cores: 1, size: 1000 }, 'opts'))).toMatch(
      /^opts\.size: expected a multiple of 65536 in \[65536, 1073741824\], got 1000$/,
    );
    expect(message(() => parseArgs(schema, { cores: 1, mode: 'busy' }, 'opts'))).toBe(
      `opts.mode: expected one of 'poll', 'interrupt', got "busy"`,
    );
  });

  it('passes valid input through unchanged', () => {
    expect(parseArgs(schema, { cores: 2, mode: 'poll' }, 'opts')).toEqual({ cores: 2, mode: 'poll' });
  });
});
