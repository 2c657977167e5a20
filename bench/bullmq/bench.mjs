// The reference for WorkCluster's `queue` scenario: BullMQ (the most used Redis job queue) doing the same work on
// the same Redis, so that the two are compared in one run (see docs/performance.md):
//   node bench.mjs --redis 127.0.0.1:6379 [--jobs 50000] [--producers 50] [--concurrency 50] [--payload-bytes 100]
// End to end: P producers add N no-op jobs (each awaiting every add, as an API does) while one worker of concurrency C
// works them off; then a burn-down: the queue filled first, then drained. BullMQ's defaults otherwise (completed jobs
// are kept, as WorkCluster keeps results for their TTL). Prints one JSON line with the same figures as WorkCluster's
// benchmark: jobs per second, Redis CPU per job (INFO cpu) and this process's CPU per job.
import { Queue, Worker, QueueEvents } from 'bullmq';
import IORedis from 'ioredis';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) =>
  arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs, []));
const [host, port] = (args.redis ?? '127.0.0.1:6379').split(':');
const jobs = Number(args.jobs ?? 50000);
const producers = Number(args.producers ?? 50);
const concurrency = Number(args.concurrency ?? 50);
const payload = 'x'.repeat(Math.max(0, Number(args['payload-bytes'] ?? 100) - 2));
const connection = { host, port: Number(port), maxRetriesPerRequest: null };

const admin = new IORedis(connection);

async function redisCpuSeconds() {
  const info = await admin.info('cpu');
  return ['used_cpu_sys', 'used_cpu_user']
    .map(field => Number(new RegExp(`${field}:([0-9.]+)`).exec(info)[1]))
    .reduce((a, b) => a + b, 0);
}

function clientCpuSeconds() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

async function produce(queue) {
  await Promise.all(Array.from({ length: producers }, async (_, p) => {
    for (let i = p; i < jobs; i += producers) {
      await queue.add('noop', { data: payload });
    }
  }));
}

function workUntilDone(name, onStart) {
  return new Promise(resolve => {
    let done = 0;
    const worker = new Worker(name, async () => null, { connection, concurrency, autorun: false });
    worker.on('completed', () => {
      if (++done === jobs) {
        resolve(worker);
      }
    });
    onStart?.();
    worker.run();
  });
}

async function scenario(name, prefill) {
  const queue = new Queue(name, { connection });
  await queue.obliterate({ force: true });
  const redisBefore = await redisCpuSeconds();
  const clientBefore = clientCpuSeconds();
  let started, enqueueSeconds = null;
  let worker;
  if (prefill) {
    const fill = performance.now();
    await produce(queue);
    enqueueSeconds = (performance.now() - fill) / 1000;
    worker = await workUntilDone(name, () => { started = performance.now(); });
  } else {
    started = performance.now();
    const working = workUntilDone(name);
    await produce(queue);
    enqueueSeconds = (performance.now() - started) / 1000;
    worker = await working;
  }
  const seconds = (performance.now() - started) / 1000;
  const redisCpu = (await redisCpuSeconds()) - redisBefore;
  const clientCpu = clientCpuSeconds() - clientBefore;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return {
    jobs, producers, concurrency,
    [prefill ? 'prefilled_per_second' : 'enqueued_per_second']: Math.round(jobs / enqueueSeconds * 10) / 10,
    [prefill ? 'drained_per_second' : 'completed_per_second']: Math.round(jobs / seconds * 10) / 10,
    redis_cpu_us_per_job: Math.round(redisCpu * 1e6 / jobs * 100) / 100,
    client_cpu_us_per_job: Math.round(clientCpu * 1e6 / jobs * 100) / 100,
  };
}

// Warm-up, untimed: a tenth of the jobs (as WorkCluster's benchmark does).
const all = jobs;
const warmUp = async () => {
  const queue = new Queue('bench-warmup', { connection });
  const worker = new Worker('bench-warmup', async () => null, { connection, concurrency });
  await Promise.all(Array.from({ length: Math.min(all / 10, 10000) }, () => queue.add('noop', { data: payload })));
  while ((await queue.getJobCounts('completed')).completed < Math.min(all / 10, 10000)) {
    await new Promise(r => setTimeout(r, 50));
  }
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
};
await warmUp();
const queueResult = await scenario('bench-e2e', false);
const burnDown = await scenario('bench-burn-down', true);
const version = JSON.parse(await (await import('node:fs/promises')).readFile(
  new URL('./node_modules/bullmq/package.json', import.meta.url), 'utf8')).version;
console.log(JSON.stringify({ bullmq: version, node: process.version, queue: queueResult, burn_down: burnDown }));
await admin.quit();
process.exit(0);
