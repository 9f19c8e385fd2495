import t from 'tap';
import { runLoadCommand } from '../../daemon/cli/load-command.js';

t.test('enfpire load: bad arguments are one clear sentence, before anything starts', async (t) => {
  await t.rejects(runLoadCommand(['--spots', '1000']), { name: 'UserError', message: 'load: --out is required.' });
  await t.rejects(runLoadCommand(['--out', 'x.json', '--spots', 'abc']), { name: 'UserError', message: /--spots must be an integer from 10/ });
  await t.rejects(runLoadCommand(['--out', 'x.json', '--rate', '0']), { name: 'UserError', message: /--rate must be a number from 0.01/ });
  await t.rejects(runLoadCommand(['--out', 'x.json', '--recognizers', '1,0']), { name: 'UserError', message: /--recognizers must be an integer from 1 to 64, not '0'/ });
  await t.rejects(runLoadCommand(['--out', 'x.json', '--broker', 'http://x']), { name: 'UserError', message: /--broker must be an mqtt/ });
  await t.rejects(runLoadCommand(['--out', 'x.json', '--scan-thread', 'gpu']), { name: 'UserError', message: /--scan-thread must be worker or main, not 'gpu'/ });
  await t.rejects(runLoadCommand(['--out', 'x.json', '--scan-threads', '0']), { name: 'UserError', message: /--scan-threads must be an integer from 1 to 64/ });
  await t.rejects(runLoadCommand(['--out', 'x.json', '--index', 'hnsw', '--scan-thread', 'main']), { name: 'UserError', message: /apply to --index exact-onnx or int8-onnx, not hnsw/ });
  await t.rejects(runLoadCommand(['--out', 'x.json', '--devixes', '5']), { name: 'UserError', message: /load: .*devixes/ });
});
