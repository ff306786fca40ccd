// Ends the run with the plain line CI reads: "N passed, N failed". A suite that could
// not run at all (a syntax error, a failing beforeAll) counts as a failure too, so a
// broken file cannot hide behind a green count.
//
// With FORKOVER_TEST_COUNTS set to a file name, the two numbers also go to that file
// ("N N\n", passed then failed): .ci/run runs the suite once per Node line and sums the
// files into its own closing line.
const fs = require('node:fs');

class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const file = process.env.FORKOVER_TEST_COUNTS;
    if (file) fs.writeFileSync(file, `${results.numPassedTests} ${failed}\n`);
    process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed\n`);
  }
}
module.exports = SummaryReporter;
