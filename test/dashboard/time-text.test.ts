import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ageText, durationText, utcText } from '../../src/dashboard/time-text.ts';

const NOW = new Date('2026-12-04T12:00:00Z');
const ago = (seconds: number): Date => new Date(NOW.getTime() - seconds * 1000);

describe('ageText()', () => {
  it('words an age in its largest whole unit', () => {
    assert.equal(ageText(ago(2), NOW), 'just now');
    assert.equal(ageText(ago(40), NOW), '40 s ago');
    assert.equal(ageText(ago(3 * 60 + 59), NOW), '3 min ago');
    assert.equal(ageText(ago(5 * 3600), NOW), '5 h ago');
    assert.equal(ageText(ago(86_400), NOW), '1 day ago');
    assert.equal(ageText(ago(3 * 86_400), NOW), '3 days ago');
  });

  it('words a future moment as "in"', () => {
    assert.equal(ageText(ago(-60 * 86_400), NOW), 'in 60 days');
  });
});

describe('durationText()', () => {
  it('keeps about two significant figures', () => {
    assert.equal(durationText(850), '850 ms');
    assert.equal(durationText(1234), '1.2 s');
    assert.equal(durationText(14_400), '14 s');
    assert.equal(durationText(125_000), '2 min 05 s');
    assert.equal(durationText(3_725_000), '1 h 02 min');
  });
});

describe('utcText()', () => {
  it('names the zone', () => {
    assert.equal(utcText(NOW), '2026-12-04 12:00:00 UTC');
  });
});
