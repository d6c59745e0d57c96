// The join page: microphone → RTCPeerConnection → POST the offer to
// /join/{token}/offer → set the answer. confab is ICE-lite with one host
// candidate, so the whole offer is sent once gathering is complete.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = $("call-state");
  const join = $("join");
  const leave = $("leave");
  const error = $("error");
  const offerUrl = location.pathname.replace(/\/$/, "") + "/offer";
  let stream = null;

  function show(s) { state.textContent = s; }
  function fail(message) {
    error.textContent = message;
    error.hidden = false;
    hangUp("failed");
  }

  function hangUp(final) {
    if (window.confabPeer) { window.confabPeer.close(); }
    if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
    leave.disabled = true;
    join.disabled = false;
    show(final);
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      // Never wait on a candidate that does not come.
      setTimeout(resolve, 3000);
    });
  }

  async function start() {
    error.hidden = true;
    join.disabled = true;
    show("connecting");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      fail("No microphone: " + e.message);
      return;
    }
    const pc = new RTCPeerConnection({ iceServers: [] });
    window.confabPeer = pc;
    const transceiver = pc.addTransceiver(stream.getAudioTracks()[0], { direction: "sendrecv" });
    // The remote audio is decoded only while an element plays it.
    const remote = $("remote");
    remote.srcObject = new MediaStream([transceiver.receiver.track]);
    remote.play().catch(() => {});
    pc.addEventListener("connectionstatechange", () => {
      const s = pc.connectionState;
      if (s === "connected") { show("connected"); leave.disabled = false; }
      else if (s === "failed" || s === "closed") { hangUp(s === "failed" ? "failed" : "ended"); }
      else if (s === "disconnected") { show("disconnected"); }
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const name = $("name").value.trim();
      const url = offerUrl + (name ? "?name=" + encodeURIComponent(name) : "");
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      });
      const text = await response.text();
      if (!response.ok) {
        const doc = new DOMParser().parseFromString(text, "text/html");
        const p = doc.querySelector("[data-testid=join-error]");
        fail((p ? p.textContent : text) || "The server refused the join (" + response.status + ").");
        return;
      }
      window.confabCallSid = response.headers.get("X-Call-Sid");
      await pc.setRemoteDescription({ type: "answer", sdp: text });
      watchCall(pc, window.confabCallSid);
    } catch (e) {
      fail("Could not connect: " + e.message);
    }
  }

  // Long-polls the server: a kick or the room's end shows as "ended"
  // (the peer connection alone would only go quiet).
  async function watchCall(pc, sid) {
    const url = location.pathname.replace(/\/$/, "") + "/calls/" + encodeURIComponent(sid);
    while (window.confabPeer === pc && pc.connectionState !== "closed") {
      try {
        const response = await fetch(url);
        if (!response.ok) return;
        const { state: s } = await response.json();
        if (s === "ended") {
          if (window.confabPeer === pc && pc.connectionState !== "closed") hangUp("ended");
          return;
        }
      } catch (_) {
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  join.addEventListener("click", start);
  leave.addEventListener("click", () => hangUp("ended"));
})();
