// Input loss in the browser, HLS and DASH: web/inputloss.mjs. The
// low-latency pair is test/inputloss-ll.test.mjs, which e2e runs alone.
//
//   EZLIVE_URL=http://127.0.0.1:1080 node --test web/test/inputloss.test.mjs

import { inputLossTest } from '../inputloss.mjs';

inputLossTest(false);
