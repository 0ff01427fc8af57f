/** The gateway's buffer of NEW_MESSAGE acks (services/gateway/socket-relay.ts): one record call per flush, deduplicated. */
import { DeliveryBuffer } from "../../services/gateway/socket-relay";

describe("DeliveryBuffer", () => {
	beforeEach(() => jest.useFakeTimers());
	afterEach(() => jest.useRealTimers());

	it("records the acks of one window in one call, each (message, user) once", () => {
		const calls: { messageId: string; userId: string }[][] = [];
		const buffer = new DeliveryBuffer((d) => calls.push(d));
		buffer.add("m1", "bob");
		buffer.add("m1", "carol");
		buffer.add("m1", "bob"); // Bob's second socket
		buffer.add("m2", "bob");
		expect(calls).toEqual([]);
		jest.advanceTimersByTime(20);
		expect(calls).toEqual([
			[
				{ messageId: "m1", userId: "bob" },
				{ messageId: "m1", userId: "carol" },
				{ messageId: "m2", userId: "bob" },
			],
		]);
		jest.advanceTimersByTime(1000);
		expect(calls).toHaveLength(1);
	});

	it("records at once when the batch is full, and on flush (node stopping)", () => {
		const calls: number[] = [];
		const buffer = new DeliveryBuffer((d) => calls.push(d.length));
		for (let i = 0; i < 501; i++) buffer.add(`m${i}`, "bob");
		expect(calls).toEqual([500]);
		buffer.flush();
		expect(calls).toEqual([500, 1]);
		buffer.flush();
		jest.advanceTimersByTime(100);
		expect(calls).toEqual([500, 1]);
	});
});
