import assert from "node:assert/strict";
import { nextTurn } from "./event_loop_turn.ts";

Deno.test("a turn of the event loop ends after the promise callbacks queued before it, and leaves nothing open", async () => {
  const order: string[] = [];
  const turn = nextTurn().then(() => order.push("turn"));
  Promise.resolve().then(() => order.push("callback"));
  await turn;
  assert.deepEqual(order, ["callback", "turn"]);
});

Deno.test("a turn of the event loop lets a message sent before it arrive", async () => {
  const { port1, port2 } = new MessageChannel();
  try {
    let received = false;
    port1.onmessage = () => received = true;
    port2.postMessage("x");
    await nextTurn();
    await nextTurn();
    assert.equal(received, true);
  } finally {
    port1.close();
    port2.close();
  }
});
