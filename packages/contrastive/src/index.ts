export { ntXentLoss } from './losses/nt-xent';
export type { NtXentOptions } from './losses/nt-xent';
export { infoNceLoss } from './losses/info-nce';
export type { InfoNceOptions } from './losses/info-nce';

export { simclr, SIMCLR_FASHION_VIEWS, validateViewOverrides } from './simclr/simclr';
export type { SimCLRConfig } from './simclr/simclr';
export { simclrViews, SIMCLR_VIEW_OPTION_RULES } from './views/simclr-views';
export type { SimclrViewOptions } from './views/simclr-views';
export { default } from './simclr/plugin';
