/** Prints the closing line CI reads: "N passed, N failed[, N skipped]". */
class SummaryReporter {
	onRunComplete(_contexts, results) {
		const skipped = results.numPendingTests + results.numTodoTests;
		const failedSuites = results.numRuntimeErrorTestSuites;
		const failed = results.numFailedTests + failedSuites;
		process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
	}
}
module.exports = SummaryReporter;
