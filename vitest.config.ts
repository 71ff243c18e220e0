// Two projects: unit (no network) and integration (real Redis, real Prosody, real files).
// The integration project's global setup starts the local services once per run.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          // test/attacks: issue 14's attack suite, against the same running services.
          include: ['test/integration/**/*.test.ts', 'test/attacks/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // Integration suites share one Prosody and Redis; run files one at a time.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
