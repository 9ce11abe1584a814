// Input loss in the browser, LL-HLS and LL-DASH: web/inputloss.mjs. e2e
// runs this file alone (TestBrowserLowLatency): low-latency players sit a
// second or two from the live edge.
//
//   EZLIVE_URL=http://127.0.0.1:1080 node --test web/test/inputloss-ll.test.mjs

import { inputLossTest } from '../inputloss.mjs';

inputLossTest(true);
