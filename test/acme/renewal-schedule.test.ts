import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkDelay, expiryUrgency, formatSpan, MAX_RETRY_DELAY_MS, renewalTime, retryDelay } from '../../src/acme/renewal-schedule.ts';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;

/** A random source that always answers `value`. */
const fixed = (value: number) => (): number => value;

/** A random source that fails the test if it is consulted. */
const unused = (): number => assert.fail('random() must not be called here');

const notBefore = new Date('2025-01-01T00:00:00Z');
const ninetyDays = { notBefore, notAfter: new Date(notBefore.getTime() + 90 * DAY) };

describe('renewalTime', () => {
  it('without a window renews when a third of the lifetime is left', () => {
    const at = renewalTime(ninetyDays, undefined, unused);
    assert.equal(at.toISOString(), new Date(notBefore.getTime() + 60 * DAY).toISOString());
  });

  it('without a window follows the lifetime of a short-lived certificate', () => {
    const sixDays = { notBefore, notAfter: new Date(notBefore.getTime() + 6 * DAY) };
    assert.equal(renewalTime(sixDays, undefined, unused).getTime(), notBefore.getTime() + 4 * DAY);
  });

  it('with a window picks start + random × (end − start)', () => {
    const window = { start: new Date('2025-02-10T00:00:00Z'), end: new Date('2025-02-12T00:00:00Z') };
    assert.equal(renewalTime(ninetyDays, window, fixed(0)).toISOString(), '2025-02-10T00:00:00.000Z');
    assert.equal(renewalTime(ninetyDays, window, fixed(0.5)).toISOString(), '2025-02-11T00:00:00.000Z');
    assert.equal(renewalTime(ninetyDays, window, fixed(1)).toISOString(), '2025-02-12T00:00:00.000Z');
  });

  it('with a window ignores the certificate lifetime, even a window past the third', () => {
    const late = { start: new Date('2025-03-25T00:00:00Z'), end: new Date('2025-03-26T00:00:00Z') };
    assert.equal(renewalTime(ninetyDays, late, fixed(0.25)).toISOString(), '2025-03-25T06:00:00.000Z');
  });

  it('with the default random source stays inside the window', () => {
    const window = { start: new Date('2025-02-10T00:00:00Z'), end: new Date('2025-02-12T00:00:00Z') };
    for (let i = 0; i < 50; i++) {
      const at = renewalTime(ninetyDays, window).getTime();
      assert.ok(at >= window.start.getTime() && at <= window.end.getTime(), new Date(at).toISOString());
    }
  });

  it('with a zero-length window returns its start without asking for a random number', () => {
    const start = new Date('2025-02-10T12:00:00Z');
    const at = renewalTime(ninetyDays, { start, end: new Date(start) }, unused);
    assert.equal(at.getTime(), start.getTime());
  });
});

describe('retryDelay', () => {
  it('starts at the base delay and doubles with each failure', () => {
    const base = 60_000;
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((failures) => retryDelay(failures, base, fixed(0))),
      [base, 2 * base, 4 * base, 8 * base, 16 * base],
    );
  });

  it('treats zero (or negative) failures as the first', () => {
    assert.equal(retryDelay(0, 60_000, fixed(0)), 60_000);
    assert.equal(retryDelay(-3, 60_000, fixed(0)), 60_000);
  });

  it('is capped at six hours however many failures there were', () => {
    assert.equal(MAX_RETRY_DELAY_MS, 6 * HOUR);
    for (const failures of [10, 30, 31, 64, 1000, 1_000_000, Number.MAX_SAFE_INTEGER]) {
      const delay = retryDelay(failures, 60_000, fixed(0));
      assert.equal(delay, MAX_RETRY_DELAY_MS, `failures=${failures}`);
      assert.ok(Number.isFinite(delay));
    }
  });

  it('never returns more than the cap, even with a base above it', () => {
    assert.equal(retryDelay(1, 10 * HOUR, fixed(0)), MAX_RETRY_DELAY_MS);
  });

  it('adds at most a tenth at random', () => {
    assert.equal(retryDelay(1, 60_000, fixed(1)), 66_000);
    assert.equal(retryDelay(3, 60_000, fixed(0.5)), 252_000);
    assert.equal(retryDelay(1000, 60_000, fixed(1)), Math.round(MAX_RETRY_DELAY_MS * 1.1));
    for (let i = 0; i < 50; i++) {
      const delay = retryDelay(2, 60_000);
      assert.ok(delay >= 120_000 && delay <= 132_000, String(delay));
    }
  });

  it('returns whole milliseconds', () => {
    assert.ok(Number.isInteger(retryDelay(1, 1_000, fixed(0.123456))));
  });
});

describe('checkDelay', () => {
  it('is the interval plus up to a tenth at random', () => {
    assert.equal(checkDelay(12 * HOUR, fixed(0)), 12 * HOUR);
    assert.equal(checkDelay(12 * HOUR, fixed(0.5)), 12 * HOUR + 36 * MINUTE);
    assert.equal(checkDelay(12 * HOUR, fixed(1)), 12 * HOUR + 72 * MINUTE);
    for (let i = 0; i < 50; i++) {
      const delay = checkDelay(1_000);
      assert.ok(delay >= 1_000 && delay <= 1_100 && Number.isInteger(delay), String(delay));
    }
  });
});

describe('expiryUrgency', () => {
  const at = (daysLeft: number): Date => new Date(ninetyDays.notAfter.getTime() - daysLeft * DAY);

  it('says nothing while more than a third of the lifetime is left', () => {
    assert.equal(expiryUrgency(ninetyDays, notBefore), undefined);
    assert.equal(expiryUrgency(ninetyDays, at(60)), undefined);
    assert.equal(expiryUrgency(ninetyDays, at(30)), undefined);
  });

  it('warns once less than a third is left', () => {
    assert.equal(expiryUrgency(ninetyDays, new Date(at(30).getTime() + 1)), 'warn');
    assert.equal(expiryUrgency(ninetyDays, at(20)), 'warn');
    assert.equal(expiryUrgency(ninetyDays, at(7)), 'warn');
  });

  it('is an error under 7 days for a 90-day certificate (a tenth would be 9 days)', () => {
    assert.equal(expiryUrgency(ninetyDays, at(8)), 'warn');
    assert.equal(expiryUrgency(ninetyDays, new Date(at(7).getTime() + 1)), 'error');
    assert.equal(expiryUrgency(ninetyDays, at(1)), 'error');
  });

  it('is an error under a tenth of a short lifetime', () => {
    const sixDays = { notBefore, notAfter: new Date(notBefore.getTime() + 6 * DAY) };
    const left = (ms: number): Date => new Date(sixDays.notAfter.getTime() - ms);
    assert.equal(expiryUrgency(sixDays, left(3 * DAY)), undefined);
    assert.equal(expiryUrgency(sixDays, left(1.5 * DAY)), 'warn');
    assert.equal(expiryUrgency(sixDays, left(0.6 * DAY + HOUR)), 'warn');
    assert.equal(expiryUrgency(sixDays, left(0.6 * DAY - HOUR)), 'error');
  });

  it('is an error once expired', () => {
    assert.equal(expiryUrgency(ninetyDays, new Date(ninetyDays.notAfter.getTime() + DAY)), 'error');
  });
});

describe('formatSpan', () => {
  it('shows the two largest units, leaving out a zero second one', () => {
    assert.equal(formatSpan(3 * DAY + 4 * HOUR + 5 * MINUTE), '3d 4h');
    assert.equal(formatSpan(3 * DAY), '3d');
    assert.equal(formatSpan(2 * HOUR + 30 * MINUTE), '2h 30m');
    assert.equal(formatSpan(HOUR), '1h');
    assert.equal(formatSpan(25 * MINUTE), '25m');
    assert.equal(formatSpan(90_000), '1m 30s');
    assert.equal(formatSpan(40_000), '40s');
    assert.equal(formatSpan(0), '0s');
  });

  it('rounds to the nearest second', () => {
    assert.equal(formatSpan(1_499), '1s');
    assert.equal(formatSpan(59_600), '1m');
  });

  it('prefixes a negative span (a past moment) with a minus sign', () => {
    assert.equal(formatSpan(-25 * MINUTE), '-25m');
    assert.equal(formatSpan(-(2 * DAY + 3 * HOUR)), '-2d 3h');
    assert.equal(formatSpan(-40_000), '-40s');
  });
});
