// The request handler of examples/hello.js, shared by every baseline server, so that a
// comparison measures forkover and not a difference in the app's own code.
//   GET /            200 "hello from <pid>\n"
//   GET /slow?ms=N   200 "slow <pid>\n" after N ms
module.exports = function hello(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/slow') {
    const ms = Math.min(Number(url.searchParams.get('ms')) || 0, 600_000);
    setTimeout(() => res.end(`slow ${process.pid}\n`), ms);
    return;
  }
  res.end(`hello from ${process.pid}\n`);
};
