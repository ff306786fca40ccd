// Ends the run with the plain line CI reads: "N passed, N failed". A suite that could
// not run at all (a syntax error, a failing beforeAll) counts as a failure too, so a
// broken file cannot hide behind a green count.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed\n`);
  }
}
module.exports = SummaryReporter;
