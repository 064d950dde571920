import { configDefaults, defineConfig } from 'vitest/config';

// End-to-end suites run against a real control plane (test/controlplane): files under test/e2e/ and any file
// named *.e2e.test.ts. Only the `e2e` project starts it, and only when one of its files is selected.
const e2eFiles = ['test/e2e/**/*.test.ts', '{src,test}/**/*.e2e.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...e2eFiles],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: e2eFiles,
          globalSetup: ['test/controlplane/global-setup.ts'],
          setupFiles: ['test/controlplane/e2e-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
