import { describePretrainAndCompareExample } from '@ssl/test-utils/example-suite';
import { runSimclrExample } from './main';

describePretrainAndCompareExample('simclr', runSimclrExample);
