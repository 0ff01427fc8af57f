/**
 * Communications against abuse (issue 10, smaller defects): the internal email relay is capped per
 * sender (EMAIL_SEND_PER_HOUR), and presence and identity are need-to-know: online status only
 * between users who share a conversation or a shop, roles only for staff viewers.
 */
import { startTestApp, type TestApp, type TestUser } from "../helpers/app";
import { connectSocket, sleep, type TestSocket } from "../helpers/sockets";
import { assignClerk, createShop } from "../helpers/sales-world";

const C = "/api/v1/communications";
const PER_HOUR = 3;

type Status = { userId: string; status: string };

describe("communications need-to-know and email cap", () => {
	let app: TestApp;
	const sockets: TestSocket[] = [];
	const open = async (u: TestUser) => {
		const s = await connectSocket(app.baseUrl, { token: u.token });
		sockets.push(s);
		return s;
	};

	beforeAll(async () => {
		app = await startTestApp({ services: ["auth", "communications", "sales"], env: { EMAIL_SEND_PER_HOUR: String(PER_HOUR) } });
	});
	afterAll(async () => {
		for (const s of sockets) s.close();
		await app?.stop();
	});

	it("caps internal emails per sender at EMAIL_SEND_PER_HOUR: 429 RATE_LIMITED with Retry-After, replies included", async () => {
		const [sender, receiver, other] = await Promise.all([app.createUser("PATRON"), app.createUser("PATRON"), app.createUser("PATRON")]);
		const send = (from: TestUser, n: number) =>
			app.request("POST", `${C}/emails`, {
				token: from.token,
				body: { receiverId: receiver.id, subject: `hello ${n}`, content: "buy now" },
			});
		for (let i = 0; i < PER_HOUR; i++) expect((await send(sender, i)).status).toBe(201);
		const refused = await send(sender, PER_HOUR);
		expect(refused.status).toBe(429);
		expect(refused.body.error).toMatchObject({ code: "RATE_LIMITED", details: { retryAfter: expect.any(Number) } });
		const retryAfter = Number(refused.headers.get("retry-after"));
		expect(retryAfter).toBeGreaterThan(0);
		expect(retryAfter).toBeLessThanOrEqual(3600);

		// A reply is a send too; the receiver's own budget is untouched, and so is another sender's.
		const inbox = await app.request("GET", `${C}/emails`, { token: receiver.token });
		expect(inbox.body.total).toBe(PER_HOUR);
		const mine = await app.request("GET", `${C}/emails?folder=sent`, { token: sender.token });
		expect(
			(await app.request("POST", `${C}/emails/${mine.body.rows[0].id}/reply`, { token: sender.token, body: { content: "again" } }))
				.status,
		).toBe(429);
		expect(
			(await app.request("POST", `${C}/emails/${inbox.body.rows[0].id}/reply`, { token: receiver.token, body: { content: "stop" } }))
				.status,
		).toBe(201);
		expect((await send(other, 0)).status).toBe(201);
	});

	it("shows online status to shop colleagues and conversation partners only, for staff too", async () => {
		const [exec, k1, k2, k3, patron] = await Promise.all([
			app.createUser("EXECUTIVE"),
			app.createUser("CLERK"),
			app.createUser("CLERK"),
			app.createUser("CLERK"),
			app.createUser("PATRON"),
		]);
		const [shopA, shopB] = await Promise.all([createShop(app, exec, "Shop A"), createShop(app, exec, "Shop B")]);
		await Promise.all([assignClerk(app, exec, shopA, k1), assignClerk(app, exec, shopA, k2), assignClerk(app, exec, shopB, k3)]);

		const [s1, s3, sExec] = await Promise.all([open(k1), open(k3), open(exec)]);
		await open(k2);
		// k1 works with k2 at shop A: told at once.
		await s1.next<Status>("USER_STATUS_CHANGE", (s) => s.userId === k2.id && s.status === "ONLINE");
		const k1Online = await app.request("GET", `${C}/chat/online-users`, { token: k1.token });
		expect(k1Online.status).toBe(200);
		expect(k1Online.body.map((u: { id: string }) => u.id)).toEqual([k2.id]);

		// A patron with no conversation, a clerk of another shop and an executive with no shared shop or conversation learn nothing.
		await open(patron);
		await sleep(300);
		for (const s of [s3, sExec])
			expect(s.received<Status>("USER_STATUS_CHANGE").filter((s) => s.userId === k2.id || s.userId === patron.id)).toEqual([]);
		expect(s1.received<Status>("USER_STATUS_CHANGE").filter((s) => s.userId === patron.id)).toEqual([]);
		for (const u of [k3, exec, patron]) {
			const online = await app.request("GET", `${C}/chat/online-users`, { token: u.token });
			expect(online.status).toBe(200);
			expect(online.body).toEqual([]);
		}
	});

	it("reveals a user's name, not their role, to a patron; staff see the role", async () => {
		const [patron, clerk] = await Promise.all([
			app.createUser("PATRON", { name: "Pat Ron" }),
			app.createUser("CLERK", { name: "Cle Rk" }),
		]);
		const created = await app.request("POST", `${C}/chat/conversations`, {
			token: patron.token,
			body: { type: "DIRECT", participantIds: [clerk.id] },
		});
		expect(created.status).toBe(201);
		const seenByPatron = created.body.participants.find((p: { id: string }) => p.id === clerk.id);
		expect(seenByPatron).toEqual({ id: clerk.id, name: "Cle Rk", lastReadAt: null });

		const list = await app.request("GET", `${C}/chat/conversations`, { token: clerk.token });
		const seenByClerk = list.body.rows[0].participants.find((p: { id: string }) => p.id === patron.id);
		expect(seenByClerk).toMatchObject({ id: patron.id, name: "Pat Ron", role: "PATRON" });

		// Presence through the conversation once the clerk has answered: each sees the other online, the patron without a role.
		expect(
			(
				await app.request("POST", `${C}/chat/conversations/${created.body.id}/messages`, {
					token: clerk.token,
					body: { content: "How can I help?" },
				})
			).status,
		).toBe(201);
		const sc = await open(clerk);
		await open(patron);
		await sc.next<Status>("USER_STATUS_CHANGE", (s) => s.userId === patron.id && s.status === "ONLINE");
		const online = await app.request("GET", `${C}/chat/online-users`, { token: patron.token });
		expect(online.body).toEqual([{ id: clerk.id, name: "Cle Rk", status: "ONLINE" }]);
		const staffView = await app.request("GET", `${C}/chat/online-users`, { token: clerk.token });
		expect(staffView.body).toEqual([{ id: patron.id, name: "Pat Ron", role: "PATRON", status: "ONLINE" }]);
	});
});
