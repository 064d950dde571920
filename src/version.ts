/** The operator's version, as published in the image, the chart and the User-Agent header. */
export const OPERATOR_VERSION = '0.1.0';
