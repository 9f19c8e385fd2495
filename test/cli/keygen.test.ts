/** `enfpire keygen`: a usable Ed25519 pair, the private half readable by its owner only, never silently replaced. */
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runKeygenCommand } from '../../daemon/cli/keygen-command.js';
import { PayloadSigner, TrustedKeys } from '../../daemon/transport/signing.js';

t.test('keygen writes a pair that signs and verifies, and refuses to overwrite it without --force', async (t) => {
  const dir = join(t.testdir(), 'keys');
  let printed = '';
  t.equal(await runKeygenCommand(['--out', dir], (text) => (printed += text)), 0);
  const key = join(dir, 'recognizer-signing.key');
  const pub = join(dir, 'recognizer-signing.pub');
  t.equal(statSync(key).mode & 0o777, 0o600, 'the private key is readable by its owner only');
  const signer = new PayloadSigner(readFileSync(key));
  const trusted = TrustedKeys.fromPem(readFileSync(pub));
  t.match(printed, new RegExp(`^key ${trusted.ids()[0]}\\n`), 'it prints the key id devices will report');
  const cd = Buffer.alloc(16, 3);
  t.same(Buffer.from(trusted.open(signer.wrap(Buffer.from('hello'), cd), cd, 1024)), Buffer.from('hello'));

  await t.rejects(runKeygenCommand(['--out', dir], () => {}), { name: 'UserError', message: /already exist; devices may pin that key\. Use --force/ });
  t.same(TrustedKeys.fromPem(readFileSync(pub)).ids(), trusted.ids(), 'the old pair is untouched');
  t.equal(await runKeygenCommand(['--out', dir, '--force'], () => {}), 0);
  t.not(TrustedKeys.fromPem(readFileSync(pub)).ids()[0], trusted.ids()[0], '--force makes a new pair');
  t.equal(statSync(key).mode & 0o777, 0o600);
  await t.rejects(runKeygenCommand([], () => {}), /give --out DIR/);
  await t.rejects(runKeygenCommand(['--out', dir, '--name', '../x'], () => {}), /--name '\.\.\/x' must be/);
});
