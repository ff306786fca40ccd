// Jest runs the TypeScript tests as ESM (ts-jest's default-esm preset) and one file at
// a time: the integration tests start real daemons, and two cores are all CI has.
/** @type {import('jest').Config} */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  maxWorkers: 1,
  testTimeout: 60_000,
  globalSetup: '<rootDir>/test/helpers/global-setup.js',
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.cjs'],
};
