// The phone's outbox (IndexedDB): check-ins and completions made offline wait here and are sent
// when the connection returns. Each keeps the idempotency key its form was rendered with, so a
// resend never acts twice. Shared by the pages (team.js) and the service worker (importScripts).
(function (scope) {
  "use strict";
  const DB = "civic-team";
  const STORE = "outbox";

  function open() {
    return new Promise(function (resolve, reject) {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE, { keyPath: "key" }); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }
  function run(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        const tx = db.transaction(STORE, mode);
        const request = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(request && request.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }
  function fields(formData) {
    const list = [];
    formData.forEach(function (value, name) { list.push([name, value]); });
    return list;
  }
  function keyOf(list) {
    const found = list.find(function (pair) { return pair[0] === "idempotency_key"; });
    return found ? found[1] : String(Date.now()) + Math.random();
  }

  const queue = {
    add: function (url, formData, label) {
      const list = fields(formData);
      const item = { key: keyOf(list), url: url, label: label || url, at: new Date().toISOString(), fields: list };
      return run("readwrite", function (store) { return store.put(item); }).then(function () { return item; });
    },
    all: function () {
      return run("readonly", function (store) { return store.getAll(); }).then(function (items) {
        return (items || []).sort(function (a, b) { return a.at < b.at ? -1 : 1; });
      });
    },
    drop: function (key) { return run("readwrite", function (store) { return store.delete(key); }); },
    // Resolves {ok, detail} once the server has answered; rejects when the network is still down.
    send: function (item) {
      const body = new FormData();
      item.fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
      return fetch(item.url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (response) {
        return response.json().then(function (answer) {
          return { ok: !!answer.ok, detail: answer.detail || "", url: answer.url || "" };
        });
      });
    },
  };
  scope.civicQueue = queue;
})(self);
