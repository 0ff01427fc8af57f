/** Tests run TypeScript through ts-jest; type-checking is `npm run build`'s job, so tests transpile only. */
module.exports = {
	testEnvironment: "node",
	roots: ["<rootDir>/test"],
	testMatch: ["**/*.test.ts"],
	transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
	testTimeout: 60000,
	maxWorkers: 2,
	reporters: ["default", "<rootDir>/test/summary-reporter.js"],
};
