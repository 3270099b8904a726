import { describePretrainAndCompareExample } from '@ssl/test-utils/example-suite';
import { runByolExample } from './main';

describePretrainAndCompareExample('byol', runByolExample);
