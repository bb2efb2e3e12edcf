"""Tests of background work: the scheduler's ticks and the periodic work each app registers."""
