// Ends the run with the plain line CI reads: "N passed, N failed". A suite that could
// not run at all (a syntax error, a failing beforeAll) counts as a failure too, so a
// broken file cannot hide behind a green count.
//
// With CI_TEST_COUNTS_FILE set to a file name, the two numbers also go to that file
// ("N N\n", passed then failed): .ci/run runs the suite once per Node line and sums the
// files into its own closing line. Not a FORKOVER_ name: the tests' daemons inherit the
// variable, and tests check that no FORKOVER_ variable reaches an app (R1.6).
const fs = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const file = process.env.CI_TEST_COUNTS_FILE;
    if (file) fs.writeFileSync(file, `${results.numPassedTests} ${failed}\n`);
    process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed\n`);
  }
}
module.exports = SummaryReporter;
