/*
 * The dataset shape is owned by protocol/src/dataset.ts. This module is the one
 * place the city server names it, so the import can switch without touching the rest.
 */
export type { CityDataset, CityInfo, Household, Resident, CardLink } from '@konbini/protocol';
